#!/usr/bin/env bash
# The role on the oldest ansible-core it claims and on the newest release line, each against a
# bookworm and a trixie "Pi": for each pair, a fresh instance (scripts/pi-nspawn.sh, via
# scripts/lib-pi.sh), playbooks/site.yml against the fake Cloudflare, a second run with
# changed=0, and the record at the fake holding the Pi's address.
#
#   scripts/controller-matrix.sh                    every pair, one after the other
#   scripts/controller-matrix.sh 2.14:trixie ...    some pairs (LINE:SUITE)
#
#   2.14  requirements-ansible-2.14.txt in a venv of the host's Python 3.11
#         (= roles/ddns/meta/main.yml min_ansible_version)
#   2.21  requirements-ansible-2.21.txt in a venv of Debian trixie's Python 3.13, run inside the
#         cached trixie rootfs (scripts/trixie-rootfs.sh: host network, so it reaches the Pi)
#
# Each boot holds the instance lock and uses its own name and index, which no Molecule scenario
# uses: ddns-c14b 40, ddns-c14t 41, ddns-c21b 42, ddns-c21t 43 (10.213.INDEX.2). Plain ansible-playbook, no
# Molecule (molecule 26 does not run on ansible-core 2.14). Venvs are cached by their pins.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CACHE_DIR=${PI_CACHE_DIR:-$HOME/.cache/pi-nspawn}
LOCK=/tmp/pi-ddns-instances.lock

venv_for() {
    # venv_for LINE: make (once) and print the venv holding that line's pinned controller.
    local line=$1 req=$root/requirements-ansible-$1.txt key venv
    key=$(sha256sum "$req" | cut -c1-12)
    case $line in
        2.14)
            venv=$CACHE_DIR/controller-$line-$key
            if [ ! -f "$venv/.ready" ]; then
                echo "controller-matrix: making $venv" >&2
                rm -rf "$venv"
                "$(command -v python3.11 || command -v python3)" -m venv "$venv"
                "$venv/bin/python" -m pip install --quiet --isolated --disable-pip-version-check \
                    --index-url https://pypi.org/simple -r "$req" >&2
                touch "$venv/.ready"
            fi ;;
        2.21)
            venv=$(scripts/trixie-rootfs.sh work)/controller-$line-$key
            # shellcheck disable=SC2016 # expanded inside the rootfs
            scripts/trixie-rootfs.sh run bash -euo pipefail -c '
                [ -f "$1/.ready" ] && exit 0
                echo "controller-matrix: making $1 ($(python3 --version))" >&2
                rm -rf "$1"; python3 -m venv "$1"
                "$1/bin/python" -m pip install --quiet --disable-pip-version-check -r "$2" >&2
                touch "$1/.ready"' venv "$venv" "$req" ;;
        *) echo "unknown line $line (2.14, 2.21)" >&2; return 2 ;;
    esac
    echo "$venv"
}

one() {
    # one LINE SUITE: run in a child process (lib-pi.sh sets NAME, INDEX and the teardown trap).
    local line=$1 venv bin
    export PI_SUITE=$2
    venv=$(venv_for "$line")
    case $line:$PI_SUITE in
        2.14:bookworm) NAME=ddns-c14b INDEX=40 ;;
        2.14:trixie) NAME=ddns-c14t INDEX=41 ;;
        2.21:bookworm) NAME=ddns-c21b INDEX=42 ;;
        2.21:trixie) NAME=ddns-c21t INDEX=43 ;;
        *) echo "unknown pair $line:$PI_SUITE" >&2; return 2 ;;
    esac
    # shellcheck source=scripts/lib-pi.sh
    . scripts/lib-pi.sh
    # lib-pi.sh's run_site calls `ansible-playbook` from PATH: put this line's first.
    bin=$tmp/bin; mkdir -p "$bin"
    if [ "$line" = 2.14 ]; then
        ln -s "$venv/bin/ansible-playbook" "$bin/ansible-playbook"
    else
        # Into the rootfs, with the play's ANSIBLE_* settings and the instance's key/inventory.
        cat >"$bin/ansible-playbook" <<SH
#!/usr/bin/env bash
TRIXIE_BIND="$tmp" TRIXIE_ENV="\$(compgen -e | grep '^ANSIBLE_' | tr '\n' ' ')" \\
    exec "$root/scripts/trixie-rootfs.sh" run "$venv/bin/ansible-playbook" "\$@"
SH
        chmod +x "$bin/ansible-playbook"
    fi
    export PATH="$bin:$PATH"
    say "ansible-core $line -> $PI_SUITE: $(ansible-playbook --version | head -n1)"
    pi_up >/dev/null
    # shellcheck disable=SC2016 # expanded on the Pi
    ok "$(on_pi '. /etc/os-release; echo "$PRETTY_NAME, $(python3 --version)"')"
    local log1=$tmp/converge1.log log2=$tmp/converge2.log
    say "ansible-core $line -> $PI_SUITE: converge"
    run_site >"$log1" 2>&1 || { tail -40 "$log1"; return 1; }
    grep -E "^$NAME +: ok=" "$log1"
    say "ansible-core $line -> $PI_SUITE: idempotence (changed=0)"
    run_site >"$log2" 2>&1 || { tail -40 "$log2"; return 1; }
    grep -E "^$NAME +: ok=" "$log2"
    grep -Eq "^$NAME +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0" "$log2" \
        || { echo "not idempotent:"; grep -E 'changed:' "$log2"; return 1; }
    say "ansible-core $line -> $PI_SUITE: the record at the fake"
    [ "$(content)" = "$FIRST_IP" ] || { echo "record: '$(content)', want $FIRST_IP"; return 1; }
    ok "$RECORD A $FIRST_IP"
}

pairs() {
    # Under the instance lock: every pair, each in a child process (its own NAME, trap, tmp).
    local pair t0 r rc=0 results=()
    for pair in "$@"; do
        t0=$SECONDS
        if "$0" --one "${pair%:*}" "${pair#*:}"; then r=ok; else r=FAILED; rc=1; fi
        results+=("ansible-core ${pair%:*} -> ${pair#*:}: $r ($((SECONDS - t0))s)")
    done
    printf '\ncontroller-matrix:\n'; printf '    %s\n' "${results[@]}"
    return $rc
}

case ${1:-} in
    --one) one "$2" "$3"; exit ;;
    --pairs) shift; pairs "$@"; exit ;;
esac
all=("$@"); [ ${#all[@]} -gt 0 ] || all=(2.14:bookworm 2.14:trixie 2.21:bookworm 2.21:trixie)
# Outside the instance lock: pip and debootstrap need no instance.
for pair in "${all[@]}"; do
    venv_for "${pair%:*}" >/dev/null
    PI_SUITE=${pair#*:} PI_QUIET=1 scripts/pi-nspawn.sh image
done
# One turn at the lock for all pairs: 4 boots, one after the other, 55-80 s each (4.5 min).
# PI_LOCK_HELD=1: the caller already holds it (a child's own flock would wait on it forever).
[ "${PI_LOCK_HELD:-0}" = 1 ] && exec "$0" --pairs "${all[@]}"
exec flock "$LOCK" "$0" --pairs "${all[@]}"
