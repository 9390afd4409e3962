#!/usr/bin/env bash
# Everything `make test` and `make demo` need, on a fresh Debian 12 machine, as root.
# Idempotent and quiet: one line per step; a warm re-run takes seconds.
#
#   1. Debian packages (apt-get only when one is missing)
#   2. .venv: the controller's tools, pinned in requirements-dev.txt
#   3. updater/.venv: the updater's locked runtime set + its test tools (updater/bootstrap-venv.sh)
#   4. the cached Debian rootfs for the "Pi" instances, one per suite (~/.cache/pi-nspawn)
#
# Environment: PYTHON for .venv (default /usr/bin/python3, Debian's 3.11), SKIP_IMAGE=1 to skip step 4,
# PI_SUITES: the suites of step 4 (default: trixie bookworm, the Molecule matrix; the demo needs one).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

APT_PACKAGES=(
    debootstrap systemd-container zstd iproute2 openssh-client   # the "Pi" instances
    python3 python3-venv python3-pip                             # venvs (Python 3.11 on Debian 12)
    make git ca-certificates util-linux procps shellcheck        # the test command itself
)
PYTHON=${PYTHON:-/usr/bin/python3}
VENV=$root/.venv

step() { printf '==> bootstrap: %s\n' "$*"; }
die() { printf '==> bootstrap: ERROR: %s\n' "$*" >&2; exit 1; }
# Keep pip quiet but its errors visible; drop notes about absent local indexes.
quiet() { "$@" 2> >(grep -v '^WARNING: Location' >&2) >/dev/null; }

[ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages and boots containers)"

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "[1/4] apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/tmp/pi-ddns-apt.log 2>&1 || { cat /tmp/pi-ddns-apt.log >&2; die "apt-get update failed"; }
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/pi-ddns-apt.log 2>&1 \
        || { tail -30 /tmp/pi-ddns-apt.log >&2; die "apt-get install failed"; }
else
    step "[1/4] Debian packages present"
fi

want=$( { "$PYTHON" --version; cat requirements-dev.txt; } | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/molecule" ] && [ "$(cat "$VENV/.bootstrap-stamp" 2>/dev/null)" = "$want" ]; then
    step "[2/4] tool venv .venv up to date"
else
    step "[2/4] tool venv .venv: $("$PYTHON" --version), requirements-dev.txt"
    "$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 11), sys.version'
    rm -rf "$VENV"
    quiet "$PYTHON" -m venv "$VENV"
    quiet "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r requirements-dev.txt
    echo "$want" >"$VENV/.bootstrap-stamp"
fi

if [ -f updater/bootstrap-venv.sh ]; then
    # The updater's own script picks its interpreter (python3.11 on PATH); it skips when up to date.
    out=$(bash updater/bootstrap-venv.sh 2>&1) || { printf '%s\n' "$out" >&2; die "updater/bootstrap-venv.sh failed"; }
    step "[3/4] updater venv: ${out##*$'\n'}"
else
    step "[3/4] updater venv: updater/bootstrap-venv.sh missing, skipped"
fi

# Debian's node_exporter for the metrics checks: the package file, unpacked here, never installed.
ne_dir=$HOME/.cache/pi-ddns/node-exporter
if [ -x "$ne_dir/root/usr/bin/prometheus-node-exporter" ]; then
    step "[3/4] node_exporter package present"
elif mkdir -p "$ne_dir" && (cd "$ne_dir" && apt-get download -qq prometheus-node-exporter) >/tmp/pi-ddns-apt.log 2>&1 \
        && debs=("$ne_dir"/prometheus-node-exporter_*.deb) && dpkg -x "${debs[0]}" "$ne_dir/root"; then
    step "[3/4] node_exporter package: ${debs[0]##*/}"
else
    step "[3/4] node_exporter package: apt-get download failed (its checks will be skipped)"
fi

if [ "${SKIP_IMAGE:-0}" = 1 ]; then
    step "[4/4] rootfs image skipped (SKIP_IMAGE=1)"
else
    for suite in ${PI_SUITES:-trixie bookworm}; do
        PI_SUITE=$suite scripts/pi-nspawn.sh image 2>&1 | sed -u 's/^\[pi-nspawn [0-9:]*\] /==> bootstrap: [4\/4] rootfs: /'
        [ "${PIPESTATUS[0]}" = 0 ] || die "rootfs image ($suite) failed"
    done
fi
