#!/usr/bin/env bash
# The fleet table of issue 14 (`make fleet-timing`, as root): N throwaway "Pis"
# (scripts/pi-nspawn.sh), one inventory, one zone at one fake Cloudflare, a record per Pi,
# ansible-playbook playbooks/site.yml run from the repository root (so with the shipped
# ansible.cfg, if there is one). For each N:
#
#   first converge on fresh instances (and a cold wheelhouse cache), then a rerun that must
#   report changed=0 on every host; every record must hold the fake's address, once.
#
#   scripts/fleet-timing.sh [N...]      default: 1 4 8
#
# Columns: wall time of ansible-playbook; controller CPU (user+system) of everything
# ansible-playbook started, measured as the cpu.stat of a cgroup of its own: the workers,
# the ssh clients, the SSH ControlPersist masters that outlive the play (they are killed
# after each run, so every run starts without a warm connection) and the wheelhouse build;
# not the Pis (their own cgroups) nor the fake; API requests from the fake's request log.
# The controller and the Pis share this machine's cores, so wall times include the Pis' work.
#
# Holds /tmp/pi-ddns-instances.lock while it runs (instance names and addresses are shared with
# Molecule and the demo). Instances: fleet-1..fleet-N at 10.213.(200+i).2. Logs of the last
# run: /tmp/pi-ddns-fleet-timing.last/. SKIP_BOOTSTRAP=1 skips scripts/bootstrap.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
LOCK=/tmp/pi-ddns-instances.lock
if [ "${FLEET_TIMING_LOCKED:-}" != 1 ]; then
    # -o: the lock is flock's own; the Pis and the fake that this script starts do not inherit it.
    exec env FLEET_TIMING_LOCKED=1 flock -o "$LOCK" "$0" "$@"
fi
[ $# -gt 0 ] || set -- 1 4 8
for n in "$@"; do
    if ! [[ $n =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 50 ]; then echo "N must be 1..50: $n" >&2; exit 64; fi
done
[ "${SKIP_BOOTSTRAP:-0}" = 1 ] || PI_SUITES=${PI_SUITE:-trixie} scripts/bootstrap.sh >/dev/null
export PATH="$root/.venv/bin:$PATH" PI_SUITE=${PI_SUITE:-trixie} PI_QUIET=1
BASE=200                      # instance i: 10.213.(BASE+i).0/30
FAKE_IP=10.213.$((BASE + 1)).1
FAKE=http://$FAKE_IP:8080
ADDR=81.2.69.160              # the fake's "public" address: content only, never contacted
LOGS=/tmp/pi-ddns-fleet-timing.last

# The controller's CPU: a cgroup v2 of our own (pure v2, or the unified half of a hybrid host).
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then CG_ROOT=/sys/fs/cgroup
elif [ -f /sys/fs/cgroup/unified/cgroup.procs ]; then CG_ROOT=/sys/fs/cgroup/unified
else echo "fleet-timing: needs cgroup v2 to measure the controller's CPU" >&2; exit 69; fi

tmp=$(mktemp -d /tmp/pi-ddns-fleet.XXXXXX)
fake_pid=
up=0                          # instances fleet-1..fleet-$up exist
cleanup() {
    local rc=$? i
    if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null; fi
    fake_pid=
    for i in $(seq 1 "$up"); do "$root/scripts/pi-nspawn.sh" destroy "fleet-$i" || true; done
    up=0
    if [ -d "$CG_ROOT/pi-ddns-fleet-timing.$$" ]; then
        echo 1 >"$CG_ROOT/pi-ddns-fleet-timing.$$/cgroup.kill" 2>/dev/null || true
        sleep 0.5; rmdir "$CG_ROOT/pi-ddns-fleet-timing.$$" 2>/dev/null || true
    fi
    rm -rf "$LOGS"; mkdir -p "$LOGS"; cp "$tmp"/*.log "$LOGS"/ 2>/dev/null || true
    rm -rf "$tmp"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctl() { env -u http_proxy -u HTTP_PROXY -u all_proxy -u ALL_PROXY python3 -m fakes ctl "$FAKE" "$@"; }
api_count() { ctl requests | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }

# fleet_up N: boot fleet-1..N (four at a time), start the fake on fleet-1's link, route every
# other Pi's traffic for it over its own link, and write the inventory.
fleet_up() {
    local n=$1 i pids=()
    "$root/scripts/pi-nspawn.sh" sweep >/dev/null
    for i in $(seq 1 "$n"); do
        "$root/scripts/pi-nspawn.sh" create "fleet-$i" $((BASE + i)) "$tmp/id_ed25519.pub" &
        pids+=($!); up=$i
        if [ ${#pids[@]} -ge 4 ] || [ "$i" = "$n" ]; then wait "${pids[@]}"; pids=(); fi
    done
    for i in $(seq 2 "$n"); do
        ip -n "pi-fleet-$i" route add "$FAKE_IP/32" via "10.213.$((BASE + i)).1"
    done
    python3 -m fakes --host "$FAKE_IP" --port 8080 --no-dns --state-file "$tmp/fake-state.json" \
        --ipv4 "$ADDR" </dev/null >"$tmp/fake.json" 2>"$tmp/fake.log" &
    fake_pid=$!
    for _ in $(seq 1 50); do grep -q api_url "$tmp/fake.json" 2>/dev/null && break; sleep 0.2; done
    grep -q api_url "$tmp/fake.json" || { cat "$tmp/fake.log" >&2; return 1; }

    local inv=$tmp/inventory
    rm -rf "$inv" "$tmp/known_hosts" "$tmp/wheelhouse"
    mkdir -p "$inv/group_vars/ddns" "$inv/host_vars"
    { echo 'all:'; echo '  children:'; echo '    ddns:'; echo '      hosts:'
      for i in $(seq 1 "$n"); do echo "        fleet-$i:"; done; } >"$inv/hosts.yml"
    for i in $(seq 1 "$n"); do
        cat >"$inv/host_vars/fleet-$i.yml" <<YAML
ansible_host: 10.213.$((BASE + i)).2
ddns_records: [pi$i.example.com]
YAML
    done
    head -c 24 /dev/urandom | base64 >"$tmp/vault-password"
    printf 'vault_ansible_become_password: "%s"\n' "$PI_PASSWORD" >"$inv/group_vars/ddns/vault.yml"
    ansible-vault encrypt --vault-password-file "$tmp/vault-password" "$inv/group_vars/ddns/vault.yml" >/dev/null 2>&1
    cat >"$inv/group_vars/ddns/vars.yml" <<YAML
ansible_user: pi
ansible_ssh_private_key_file: $tmp/id_ed25519
ansible_python_interpreter: /usr/bin/python3
ansible_ssh_common_args: -o UserKnownHostsFile=$tmp/known_hosts -o StrictHostKeyChecking=accept-new
ansible_become_password: "{{ vault_ansible_become_password }}"
ddns_zone: example.com
ddns_cloudflare_api_token: test-token-0123456789abcdef
ddns_cloudflare_api_url: $FAKE/client/v4
ddns_cloudflare_allow_http: true
ddns_ipv4_sources:
  - {type: trace, url: "$FAKE/cdn-cgi/trace"}
  - {type: http, url: "$FAKE/ip"}
# A cold wheelhouse cache for each fleet's first converge.
ddns_wheelhouse_cache_dir: $tmp/wheelhouse
YAML
}

fleet_down() {
    local i
    if kill "$fake_pid" 2>/dev/null; then wait "$fake_pid" 2>/dev/null || true; fi
    fake_pid=
    for i in $(seq 1 "$up"); do "$root/scripts/pi-nspawn.sh" destroy "fleet-$i"; done
    up=0
}

# play LOG: run site.yml in a cgroup of its own; sets wall, cpu (seconds) and api (requests).
play() {
    local log=$1 cg=$CG_ROOT/pi-ddns-fleet-timing.$$ t0 t1 rc=0
    mkdir "$cg"
    ctl clear-requests >/dev/null
    t0=$EPOCHREALTIME
    bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' _ "$cg" \
        ansible-playbook -i "$tmp/inventory" --vault-password-file "$tmp/vault-password" \
        playbooks/site.yml >"$log" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    cpu=$(awk '$1 == "usage_usec" {printf "%.1f", $2 / 1e6}' "$cg/cpu.stat")
    echo 1 >"$cg/cgroup.kill"     # the ControlPersist masters: every run starts cold
    for _ in $(seq 1 50); do [ -s "$cg/cgroup.procs" ] || break; sleep 0.1; done
    rmdir "$cg"
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}')
    api=$(api_count)
    [ "$rc" = 0 ] || { tail -40 "$log" >&2; echo "fleet-timing: ansible-playbook failed ($log)" >&2; return 1; }
}

# check_records N: every pi<i>.example.com holds ADDR, exactly once.
check_records() {
    ctl records | python3 -c '
import json, sys
n, addr = int(sys.argv[1]), sys.argv[2]
recs = json.load(sys.stdin)["records"]
for i in range(1, n + 1):
    got = [r["content"] for r in recs if r["name"] == f"pi{i}.example.com" and r["type"] == "A"]
    if got != [addr]:
        sys.exit(f"fleet-timing: pi{i}.example.com holds {got}, want [{addr}]")
if len(recs) != n:
    sys.exit(f"fleet-timing: {len(recs)} records at the fake, want {n}")' "$1" "$ADDR"
}

ssh-keygen -q -t ed25519 -N '' -C pi-ddns-fleet -f "$tmp/id_ed25519"
PI_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
export PI_PASSWORD
rows=()
for n in "$@"; do
    printf '==> fleet of %s: booting\n' "$n" >&2
    fleet_up "$n"
    printf '==> fleet of %s: first converge\n' "$n" >&2
    play "$tmp/first-$n.log"; w1=$wall c1=$cpu a1=$api
    check_records "$n"
    printf '==> fleet of %s: rerun\n' "$n" >&2
    play "$tmp/rerun-$n.log"; w2=$wall c2=$cpu a2=$api
    check_records "$n"
    hosts=$(grep -cE '^fleet-[0-9]+ +: ok=' "$tmp/rerun-$n.log" || true)
    quiet=$(grep -cE '^fleet-[0-9]+ +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0' "$tmp/rerun-$n.log" || true)
    if [ "$hosts" != "$n" ] || [ "$quiet" != "$n" ]; then
        grep -E '^fleet-' "$tmp/rerun-$n.log" >&2
        echo "fleet-timing: the rerun changed something (or missed a host)" >&2; exit 1
    fi
    # Tasks a rerun walks per Pi: the recap's ok + skipped of fleet-1 (changed is 0).
    tasks=$(awk '$1 == "fleet-1" && $3 ~ /^ok=/ {split($3, o, "="); split($7, s, "="); print o[2] " + " s[2]}' "$tmp/rerun-$n.log")
    rows+=("$(printf '| %s | %s s | %s s | %s / %s s | %s / %s s | %s / %s | %s |' "$n" "$w1" "$w2" "$c1" "$c2" \
        "$(awk -v c="$c1" -v n="$n" 'BEGIN {printf "%.1f", c / n}')" \
        "$(awk -v c="$c2" -v n="$n" 'BEGIN {printf "%.1f", c / n}')" "$a1" "$a2" "$tasks")")
    printf '    %s\n' "${rows[-1]}" >&2
    fleet_down
done

forks=$(ansible-config dump 2>/dev/null | awk -F' = ' '/^DEFAULT_FORKS/ {print $2}')
cat <<TXT

Fleet timing ($(nproc) cores, $(date -u '+%F %H:%M'), $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- roles ansible.cfg updater || echo '+dirty'), forks ${forks:-?}, ansible.cfg: $(ansible --version | awk -F'= ' '/config file/ {print $2}'))
| Pis | first converge | rerun (changed=0) | controller CPU, first / rerun | per Pi | API requests, first / rerun | rerun tasks per Pi (ok + skipped) |
|---:|---:|---:|---:|---:|---:|---:|
TXT
printf '%s\n' "${rows[@]}"
