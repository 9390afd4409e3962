# shellcheck shell=bash disable=SC2034 # variables used by the sourcing scripts
# Shared by demo.sh and measure.sh: a throwaway "Pi" (scripts/pi-nspawn.sh) with
# the fake Cloudflare on the host side of its link, and an inventory for it.
# Set NAME and INDEX before sourcing; call pi_up, then use on_pi, ctl, record,
# content and run_site; the EXIT trap tears everything down.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOST_IP=10.213.$INDEX.1
PI_IP=10.213.$INDEX.2
PORT=8080
FAKE=http://$HOST_IP:$PORT
FIRST_IP=81.2.69.160      # "public" addresses: content only, never contacted
NEXT_IP=81.2.69.161
RECORD=home.example.com
INTERVAL=60               # ddns_interval in the inventory below, in seconds
export PI_SUITE=${PI_SUITE:-trixie}   # what a card flashed today runs; bookworm for existing Pis
export PATH="$root/.venv/bin:$PATH"

if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' N=$'\e[0m'; else B='' G='' N=''; fi
t_start=$SECONDS
say() { printf '\n%s==> [%3ss] %s%s\n' "$B" $((SECONDS - t_start)) "$*" "$N"; }
ok() { printf '%s    %s%s\n' "$G" "$*" "$N"; }

tmp=$(mktemp -d "/tmp/pi-ddns-$NAME.XXXXXX")
fake_pid=
pi_down() {
    local rc=$?
    say "Tearing down: the fake, the Pi, $tmp"
    if [ -n "$fake_pid" ]; then kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null; fi
    PI_QUIET=1 "$root/scripts/pi-nspawn.sh" destroy "$NAME" || true
    rm -rf "$tmp"
    if [ "$rc" = 0 ]; then say "Done in $((SECONDS - t_start))s."; else say "FAILED (exit $rc)."; fi
}
trap pi_down EXIT
trap 'exit 130' INT TERM

# The fake's control CLI, without any proxy: the fake is on the Pi's private link.
ctl() { (cd "$root" && env -u http_proxy -u HTTP_PROXY -u all_proxy -u ALL_PROXY python3 -m fakes ctl "$FAKE" "$@"); }
record() {
    ctl records | python3 -c '
import json, sys
recs = [r for r in json.load(sys.stdin)["records"] if r["name"] == sys.argv[1]]
for r in recs:
    print("{name} {type} {content}  id={id}  comment={c!r}".format(c=r.get("comment"), **r))
print("" if recs else "(no record)")' "$RECORD"
}
content() {
    ctl records | python3 -c '
import json, sys
print(" ".join(r["content"] for r in json.load(sys.stdin)["records"] if r["name"] == sys.argv[1]))' "$RECORD"
}
on_pi() {
    ssh -i "$tmp/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
        -o UserKnownHostsFile="$tmp/known_hosts" -o LogLevel=ERROR "pi@$PI_IP" "$@"
}
# on_pi_sudo CMD...: as root on the Pi; sudo asks for pi's password, typed on its stdin.
on_pi_sudo() {
    printf '%s\n' "$PI_PASSWORD" | on_pi sudo -S -p "''" "$@"
}

pi_up() {
    say "Booting a throwaway Raspberry Pi stand-in: Debian $PI_SUITE, systemd as PID 1, user pi (sudo with a password), sshd ($PI_IP)"
    ssh-keygen -q -t ed25519 -N '' -C "pi-ddns-$NAME" -f "$tmp/id_ed25519"
    # pi's password, as chosen in Imager: random here, and kept in the inventory's vault below.
    PI_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
    export PI_PASSWORD
    "$root/scripts/pi-nspawn.sh" sweep "$NAME"
    "$root/scripts/pi-nspawn.sh" create "$NAME" "$INDEX" "$tmp/id_ed25519.pub"
    # shellcheck disable=SC2016 # expanded on the Pi
    ok "$(on_pi 'echo "$(hostname): $(. /etc/os-release; echo "$PRETTY_NAME"), systemd $(systemctl is-system-running)"')"

    say "Starting the fake Cloudflare API + IP echo on $HOST_IP:$PORT (public IP: $FIRST_IP)"
    (cd "$root" && exec python3 -m fakes --host "$HOST_IP" --port "$PORT" --dns-port 5353 --ns-port 5354 \
        --state-file "$tmp/fake-state.json" --ipv4 "$FIRST_IP" </dev/null >"$tmp/fake.json" 2>"$tmp/fake.log") &
    fake_pid=$!
    for _ in $(seq 1 50); do grep -q api_url "$tmp/fake.json" 2>/dev/null && break; sleep 0.2; done
    grep -q api_url "$tmp/fake.json" || { cat "$tmp/fake.log" >&2; return 1; }
    ok "zone example.com, records: $(record)"

    say "Writing an inventory for the Pi (in $tmp/inventory, shaped like inventory.example)"
    mkdir -p "$tmp/inventory/group_vars/ddns"
    cat >"$tmp/inventory/hosts.yml" <<YAML
all:
  children:
    ddns:
      hosts:
        $NAME:
          ansible_host: $PI_IP
          ansible_user: pi
          ansible_ssh_private_key_file: $tmp/id_ed25519
          ansible_python_interpreter: /usr/bin/python3
          # the demo's own known_hosts; the host key is trusted on first contact
          ansible_ssh_common_args: -o UserKnownHostsFile=$tmp/known_hosts -o StrictHostKeyChecking=accept-new
YAML
    # The vault: pi's sudo password, encrypted with a throwaway vault password.
    head -c 24 /dev/urandom | base64 >"$tmp/vault-password"
    printf 'vault_ansible_become_password: "%s"\n' "$PI_PASSWORD" >"$tmp/inventory/group_vars/ddns/vault.yml"
    ansible-vault encrypt --vault-password-file "$tmp/vault-password" "$tmp/inventory/group_vars/ddns/vault.yml" >/dev/null 2>&1
    cat >"$tmp/inventory/group_vars/ddns/vars.yml" <<YAML
ansible_become_password: "{{ vault_ansible_become_password }}"   # pi's sudo password, in the vault
ddns_zone: example.com
ddns_records: [$RECORD]
ddns_cloudflare_api_token: test-token-0123456789abcdef   # the fake's; a real one lives in a vault
ddns_cloudflare_api_url: $FAKE/client/v4
ddns_cloudflare_allow_http: true   # the fake speaks plain http on the lab link
ddns_ipv4_sources:
  - {type: trace, url: "$FAKE/cdn-cgi/trace"}
  - {type: http, url: "$FAKE/ip"}
ddns_propagation_port: 5354   # the fake's nameserver for example.com (its name_servers: $HOST_IP)
ddns_interval: 1min
ddns_timer_randomized_delay: 0s
ddns_timer_accuracy: 1s
YAML
    sed 's/^/    /' "$tmp/inventory/group_vars/ddns/vars.yml"
}

# run_site: ansible-playbook playbooks/site.yml against the Pi.
run_site() {
    (cd "$root" && ANSIBLE_DISPLAY_SKIPPED_HOSTS=False \
        ansible-playbook -i "$tmp/inventory" --vault-password-file "$tmp/vault-password" playbooks/site.yml)
}

# wait_for_record CONTENT MAX_SECONDS: poll the fake until the record holds CONTENT.
wait_for_record() {
    local want=$1 max=$2 t0=$SECONDS
    while [ "$(content)" != "$want" ]; do
        [ $((SECONDS - t0)) -gt "$max" ] && { printf '\n    the record did not follow in %ss\n' "$max" >&2; return 1; }
        [ -t 1 ] && printf '\r    %3ss: record still %s ' $((SECONDS - t0)) "$(content)"
        sleep 1
    done
    [ -t 1 ] && printf '\r'
    waited=$((SECONDS - t0))
}
