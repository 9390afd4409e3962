#!/usr/bin/env bash
# The cached Debian trixie rootfs of the "Pi" instances (scripts/pi-nspawn.sh base: Python
# 3.13, python3-venv, ssh client), run with systemd-nspawn (no --boot) for a command: the second
# Python the targets ship, and a controller Python for ansible-core lines that need >= 3.12. It
# shares the host's network (loopback fakes, the test instances' links) and sees the project at
# the same path. One image serves both uses: no second debootstrap.
#
#   trixie-rootfs.sh build            make sure the image exists (pi-nspawn.sh base; cached)
#   trixie-rootfs.sh run CMD...       run CMD in it as root, in the current directory
#   trixie-rootfs.sh work             print the writable directory the runs share (for venvs)
#
# Bound at the same path: the project root, ../shared (if present) and any
# TRIXIE_BIND=DIR[:DIR...]. TRIXIE_ENV="NAME ..." passes those variables through.
# Environment: PI_CACHE_DIR (default ~/.cache/pi-nspawn), PI_MIRROR, PI_ARCH, as pi-nspawn.sh.
# Needs root, systemd-container (and what pi-nspawn.sh needs to build the image).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
CACHE_DIR=${PI_CACHE_DIR:-$HOME/.cache/pi-nspawn}
ARCH=${PI_ARCH:-$(dpkg --print-architecture)}
# PY_SUITE=sid: the same for Debian's next Python (a one-off look, not part of make test).
SUITE=${PY_SUITE:-trixie}
# The rootfs runs read-only (so any number of runs share it); what they write (venvs, pip's
# cache, HOME) lives here, bound at the same path.
WORK=$CACHE_DIR/$SUITE-$ARCH-py-work

die() { printf '[trixie-rootfs] ERROR: %s\n' "$*" >&2; exit 1; }

build() {
    ROOTFS=$(PI_SUITE=$SUITE PI_ARCH=$ARCH "$root/scripts/pi-nspawn.sh" base) || die "no $SUITE image"
    [ -x "$ROOTFS/usr/bin/python3" ] || die "$ROOTFS has no python3"
}

run() {
    [ $# -gt 0 ] || die "usage: run CMD..."
    build
    mkdir -p "$WORK/home"
    # The host's trust store (pip reaches PyPI as the host does, through its proxy CA if any).
    cp /etc/ssl/certs/ca-certificates.crt "$WORK/host-ca.crt.$$" && mv "$WORK/host-ca.crt.$$" "$WORK/host-ca.crt"
    local args=(--quiet --register=no --keep-unit --as-pid2 --directory="$ROOTFS" --volatile=overlay --console=pipe
                --resolv-conf=copy-host --timezone=off --link-journal=no --tmpfs=/tmp
                --bind="$WORK" --bind="$root" --chdir="$PWD"
                --setenv=LANG=C.UTF-8 --setenv=HOME="$WORK/home"
                --setenv=PIP_CERT="$WORK/host-ca.crt" --setenv=SSL_CERT_FILE="$WORK/host-ca.crt"
                --setenv=PATH=/usr/local/bin:/usr/bin:/bin)
    # ../shared (often a symlink): its real directory, at the path the tests open.
    [ -e "$root/../shared" ] && args+=(--bind="$(realpath "$root/../shared"):$(dirname "$root")/shared")
    local d v
    IFS=: read -ra extra <<<"${TRIXIE_BIND:-}"
    for d in "${extra[@]}"; do [ -n "$d" ] && args+=(--bind="$d"); done
    for v in ${TRIXIE_ENV:-}; do [ -n "${!v+x}" ] && args+=(--setenv="$v=${!v}"); done
    # Many runs at once (other worktrees) are fine: no --machine registration, no own network.
    # Without systemd as the host's PID 1, nspawn says on exit that it leaves its (empty)
    # propagation directory alone: noise, dropped.
    exec systemd-nspawn "${args[@]}" -- "$@" \
        2> >(grep --line-buffered -v '^Attempted to remove disk file system under' >&2)
}

case ${1:-} in
    build) build ;;
    work) echo "$WORK" ;;
    run) shift; run "$@" ;;
    *) die "usage: $0 build | run CMD..." ;;
esac
