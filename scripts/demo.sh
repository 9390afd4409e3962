#!/usr/bin/env bash
# The main job, end to end, on a throwaway "Pi" (a booted Debian trixie under
# systemd-nspawn, as a card flashed today; PI_SUITE=bookworm for the older one)
# against a fake Cloudflare API on this machine:
#   boot the Pi -> start the fake -> ansible-playbook playbooks/site.yml ->
#   pi-ddns status -> change the "public IP" -> watch the timer move the record -> tear down.
# Run as root: `make demo`. Nothing but the Pi's private link (10.213.9.0/30) is contacted.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${DEMO_NAME:-ddns-demo}
INDEX=${DEMO_INDEX:-9}

PI_SUITES=${PI_SUITE:-trixie} scripts/bootstrap.sh
# shellcheck source=scripts/lib-pi.sh
. scripts/lib-pi.sh
pi_up

say "Provisioning: ansible-playbook -i $tmp/inventory --vault-password-file $tmp/vault-password playbooks/site.yml"
t0=$SECONDS
run_site
ok "provisioned in $((SECONDS - t0))s"

say "On the Pi: sudo pi-ddns status"
on_pi_sudo pi-ddns status | sed 's/^/    /'
say "The record at the fake Cloudflare"
ok "$(record)"

say "The home's public IP changes: $FIRST_IP -> $NEXT_IP (at the fake's IP echo)"
ctl set-ip "$NEXT_IP" >/dev/null
on_pi systemctl list-timers pi-ddns.timer --no-pager | head -2 | sed 's/^/    /'
say "Waiting for pi-ddns.timer (every ${INTERVAL}s) to move the record"
wait_for_record "$NEXT_IP" $((INTERVAL * 2))
ok "after ${waited}s: $(record)"

say "The updater's log on the Pi (journalctl -u pi-ddns, as pi: the first user is in group adm)"
on_pi journalctl -u pi-ddns.service --no-pager -n 8 | sed 's/^/    /'
say "On the Pi: sudo pi-ddns status"
on_pi_sudo pi-ddns status | sed 's/^/    /'
