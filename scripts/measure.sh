#!/usr/bin/env bash
# The figures of issue 4, measured on a throwaway "Pi" against the fake Cloudflare
# (`make figures`, as root):
#   first converge on a fresh instance, idempotent re-run (changed=0), IP change ->
#   record correct via the timer, one update run through systemd, no-change run,
#   systemd-analyze security exposure; and how to time `make test` warm and cold.
#
#   scripts/measure.sh              the instance figures (about 1 min)
#   scripts/measure.sh --make-test  also time `make test` warm (here) and cold (a fresh clone
#                                   in a temp dir with an empty rootfs cache; apt packages and
#                                   the role's wheelhouse cache stay): about 20 min more
#   scripts/measure.sh --molecule [--cold]
#                                   only the Molecule matrix (every scenario on bookworm and
#                                   trixie, PI_JOBS at once): warm; --cold also with an empty
#                                   rootfs cache (both suites debootstrapped first)
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${MEASURE_NAME:-ddns-measure}
INDEX=${MEASURE_INDEX:-8}

scripts/bootstrap.sh

if [ "${1:-}" = --molecule ]; then
    log=/tmp/pi-ddns-matrix-warm.log
    t0=$SECONDS; SKIP_BOOTSTRAP=1 scripts/test.sh molecule >"$log" 2>&1 && r=ok || r=FAILED
    warm="$((SECONDS - t0))s $r (log $log)"
    cold=skipped
    if [ "${2:-}" = --cold ]; then
        cache=$(mktemp -d /tmp/pi-ddns-cold-cache.XXXXXX); log=/tmp/pi-ddns-matrix-cold.log
        t0=$SECONDS; PI_CACHE_DIR=$cache SKIP_BOOTSTRAP=1 scripts/test.sh molecule >"$log" 2>&1 && r=ok || r=FAILED
        cold="$((SECONDS - t0))s $r (log $log; rootfs cache $cache)"
    fi
    cat <<TXT

Molecule matrix (this machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); PI_JOBS=${PI_JOBS:-2}; $(date -u +%F))
  warm (cached rootfs)                  $warm
  cold (empty rootfs cache)             $cold
TXT
    grep -E '^<== test: molecule' /tmp/pi-ddns-matrix-*.log | sed 's/^/  /'
    exit 0
fi
# shellcheck source=scripts/lib-pi.sh
. scripts/lib-pi.sh
pi_up >/dev/null
recap() { grep -E "^$NAME +: ok=" "$1" | sed 's/  */ /g'; }
changed() { recap "$1" | grep -o 'changed=[0-9]*'; }
on_pi_time_sudo() { local t0=$EPOCHREALTIME; on_pi_sudo "$@" >/dev/null; awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

say "1/5 First converge on a fresh instance (playbooks/site.yml)"
t0=$SECONDS; run_site >"$tmp/converge1.log" 2>&1 || { tail -40 "$tmp/converge1.log"; exit 1; }
first=$((SECONDS - t0)); ok "${first}s, $(recap "$tmp/converge1.log")"

say "2/5 Idempotent re-run"
t0=$SECONDS; run_site >"$tmp/converge2.log" 2>&1 || { tail -40 "$tmp/converge2.log"; exit 1; }
second=$((SECONDS - t0)); ok "${second}s, $(recap "$tmp/converge2.log")"

say "3/5 IP change -> record correct at the fake, through the timer (interval ${INTERVAL}s)"
ctl set-ip "$NEXT_IP" >/dev/null
wait_for_record "$NEXT_IP" $((INTERVAL * 2)); timer_latency=$waited
ok "${timer_latency}s (the timer fires 0..${INTERVAL}s after the change, by its phase)"

say "4/5 One run through systemd: with a changed IP, then with none"
ctl set-ip "$FIRST_IP" >/dev/null
run_changed=$(on_pi_time_sudo systemctl start pi-ddns.service)
[ "$(content)" = "$FIRST_IP" ] || { echo "record not updated by the run" >&2; exit 1; }
ctl clear-requests >/dev/null
run_same=$(on_pi_time_sudo systemctl start pi-ddns.service)
api_calls=$(ctl requests | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
ok "changed IP: ${run_changed}s (record updated); unchanged: ${run_same}s with $api_calls API calls"

say "5/5 systemd-analyze security pi-ddns.service"
exposure=$(on_pi_sudo systemd-analyze security --no-pager pi-ddns.service | grep -o 'exposure level for [^:]*: [0-9.]*' | awk '{print $NF}')
ok "exposure $exposure"

cat <<TXT

figures (this machine: $(nproc) cores; $(date -u +%F))
  first converge, fresh instance        ${first}s   ($(changed "$tmp/converge1.log"))
  idempotent re-run                     ${second}s   ($(changed "$tmp/converge2.log"))
  IP change -> record correct (timer)   ${timer_latency}s   (interval ${INTERVAL}s, AccuracySec=1s, no random delay)
  one update run via systemd            ${run_changed}s   (changed IP); ${run_same}s unchanged, ${api_calls} API calls (ssh + sudo systemctl start)
  systemd-analyze security exposure     ${exposure}
TXT

if [ "${1:-}" != --make-test ]; then
    cat <<'TXT'
  make test, warm                       time make test
  make test, cold                       git clone . /tmp/c && cd /tmp/c && PI_CACHE_DIR=$(mktemp -d) time make test
TXT
    exit 0
fi
trap - EXIT; pi_down
say "make test, warm (this tree)"
t0=$SECONDS; make test >/tmp/pi-ddns-make-test-warm.log 2>&1 && r=ok || r=FAILED
warm="$((SECONDS - t0))s $r (log /tmp/pi-ddns-make-test-warm.log)"
say "make test, cold (a fresh clone, an empty rootfs cache)"
cold_dir=$(mktemp -d /tmp/pi-ddns-cold.XXXXXX)
git clone -q "$root" "$cold_dir/repo"
t0=$SECONDS
(cd "$cold_dir/repo" && PI_CACHE_DIR="$cold_dir/cache" make test) >"$cold_dir/make-test.log" 2>&1 && r=ok || r=FAILED
cold="$((SECONDS - t0))s $r (log $cold_dir/make-test.log)"
cat <<TXT
  make test, warm                       $warm
  make test, cold                       $cold
TXT
