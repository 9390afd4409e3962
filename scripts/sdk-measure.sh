#!/usr/bin/env bash
# The figures behind the SDK choice (updater/WHEELHOUSE.md, "Which cloudflare SDK"): two (or
# more) updater trees, each with its own requirements.lock, measured on the same work and
# interleaved round by round, so that both see the same machine load:
#   wheelhouse size, files unpacked, installed size;
#   offline install time: pip install --no-index --require-hashes into a fresh venv (bytecode
#     compiled, as on the Pi), on the host's Python 3.11 and on trixie's 3.13
#     (scripts/trixie-rootfs.sh);
#   CPU, peak RSS and wall time of the changed-address and cold-cache runs (bench/bench.py,
#     Python 3.11).
#
#   scripts/sdk-measure.sh DIR... [--rounds N]     e.g.  updater /tmp/sdk5/updater
#
# Prints medians over the rounds (bench: of N x 3 runs). Not part of `make test`; about
# 1 min per round and tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dirs=() rounds=5
while [ $# -gt 0 ]; do
    case $1 in --rounds) rounds=$2; shift 2 ;; *) dirs+=("$(realpath "$1")"); shift ;; esac
done
[ ${#dirs[@]} -gt 0 ] || dirs=("$root/updater")
py=$(command -v python3.11 || command -v python3)
tmp=$(mktemp -d /tmp/pi-ddns-sdk.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pipq=(--disable-pip-version-check --quiet --isolated)
median() { "$py" -c 'import statistics, sys; print(statistics.median(float(x) for x in sys.stdin.read().split()))'; }

for i in "${!dirs[@]}"; do
    d=${dirs[$i]} w=$tmp/$i
    mkdir -p "$w"
    "$py" -m pip download "${pipq[@]}" --index-url https://pypi.org/simple --no-deps --require-hashes \
        --only-binary=:all: --platform any --implementation py --abi none --python-version 3.11 \
        -d "$w/wh" -r "$d/requirements.lock"
    # The bench venv: the locked set, then pi-ddns from this tree (its console script).
    "$py" -m venv "$w/bench"
    "$w/bench/bin/python" -m pip install "${pipq[@]}" --no-index --find-links "$w/wh" \
        --only-binary=:all: --require-hashes -r "$d/requirements.lock"
    "$w/bench/bin/python" -m pip install "${pipq[@]}" --index-url https://pypi.org/simple --no-deps "$d"
done

# shellcheck disable=SC2016 # expanded in the child shell / inside the rootfs
timed_install='v=$1; shift; rm -rf "$v"; python3 -m venv "$v"; t0=$EPOCHREALTIME
    "$v/bin/python" -m pip install --disable-pip-version-check --quiet --isolated --no-index \
        --only-binary=:all: --require-hashes "$@" >/dev/null
    awk -v a="$t0" -v b="$EPOCHREALTIME" "BEGIN { print b - a }"'
for r in $(seq 1 "$rounds"); do
    echo "sdk-measure: round $r/$rounds" >&2
    for i in "${!dirs[@]}"; do
        d=${dirs[$i]} w=$tmp/$i
        PATH=$(dirname "$py"):$PATH bash -c "$timed_install" x "$w/v311" --find-links "$w/wh" \
            -r "$d/requirements.lock" >>"$w/install311"
        TRIXIE_BIND="$tmp:$d" scripts/trixie-rootfs.sh run bash -c "$timed_install" x "$w/v313" \
            --find-links "$w/wh" -r "$d/requirements.lock" >>"$w/install313"
        (cd "$root"; "$w/bench/bin/python" "$d/bench/bench.py" --runs 3 >>"$w/bench.txt") || true
    done
done

printf '\n| | %s |\n|---|%s\n' "$(for d in "${dirs[@]}"; do grep -o '^cloudflare==[^ ]*' "$d/requirements.lock"; done | paste -sd'|' | sed 's/|/ | /g')" \
    "$(for _ in "${dirs[@]}"; do printf -- '---:|'; done)"
row() {
    # row TITLE FUNC [ARGS...]: one table row, FUNC INDEX ARGS... per tree.
    local title=$1 f=$2 i; shift 2
    printf '| %s |' "$title"
    for i in "${!dirs[@]}"; do printf ' %s |' "$("$f" "$i" "$@")"; done
    echo
}
wh_kib() { echo "$(($(du -sb "$tmp/$1/wh" | cut -f1) / 1024)) KiB"; }
files() { for w in "$tmp/$1"/wh/*.whl; do "$py" -c 'import sys, zipfile; print(len(zipfile.ZipFile(sys.argv[1]).namelist()))' "$w"; done | paste -sd+ | bc; }
inst_mb() { echo "$(du -sm "$tmp/$1/v311/lib" | cut -f1) MB"; }
inst() { printf '%.1f s' "$(median <"$tmp/$1/$2")"; }
# bench.py's table rows: | case | wall ms | CPU ms | peak RSS MB | ...  (awk field 3, 4, 5)
bench() { grep -F "| $2 |" "$tmp/$1/bench.txt" | awk -F'|' -v c="$3" '{ print $c }' | median; }
figures() { printf '%.0f ms / %.1f MB / %.0f ms' "$(bench "$1" "$2" 4)" "$(bench "$1" "$2" 5)" "$(bench "$1" "$2" 3)"; }
row "wheelhouse (locked wheels)" wh_kib
row "files unpacked" files
row "installed (venv lib/, 3.11)" inst_mb
row "offline install, host 3.11" inst install311
row "offline install, trixie 3.13" inst install313
for c in "IP changed, warm cache" "cold cache, record exists" "cold cache, record missing"; do
    row "$c: CPU / peak RSS / wall" figures "$c"
done
echo
echo "medians of $rounds rounds (bench: $((rounds * 3)) runs), interleaved; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M') UTC"
