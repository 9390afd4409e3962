#!/usr/bin/env bash
# An emulated Raspberry Pi 1 (ARMv6, ARM1176): a Debian bookworm armel rootfs, run under
# qemu-user with `-cpu arm1176`, cached like scripts/pi-nspawn.sh caches its rootfs.
# Needs root and Debian's qemu-user-static, binfmt-support and debootstrap (installed here
# if missing). Emulation is not a real Pi 1: it proves the ARMv6 install and gives relative costs.
#
#   scripts/pi1.sh image          build the cached rootfs tarball if missing (cold: ~10 min)
#   scripts/pi1.sh test           the offline-install test: the role's wheelhouse, the README's
#                                 pip command, `pi-ddns --version`, a no-change and a changed run
#                                 against the loopback fakes (a fresh copy of the cached rootfs)
#   scripts/pi1.sh bench [ARGS]   the cost table, emulated and native, side by side
#                                 (updater/bench/pi1.py ARGS; `make pi1-figures`)
#   scripts/pi1.sh shell          a shell in a fresh copy of the rootfs (binfmt kept while it runs)
#   scripts/pi1.sh run CMD...     one command in it
#
# Environment: PI_CACHE_DIR (default ~/.cache/pi-nspawn), PI_MIRROR (default: the host's apt
# mirror), PI1_KEEP=1 keeps the unpacked rootfs (path printed), PI1_WORK=that path reuses it
# (for profiling: `PI1_WORK=/var/tmp/pi1.XXXXXX scripts/pi1.sh run python3 -X importtime ...`).
#
# The ARM1176 model is forced by QEMU_CPU=arm1176 in the environment of everything started in
# the rootfs (qemu-user reads it, and children inherit it); each command checks it took effect
# (`uname -m` says armv6l; qemu's default CPU says armv7l). The binfmt_misc entry is this
# script's own (pi-ddns-arm1176, fix-binary: no qemu copy inside the rootfs); it is removed,
# and binfmt_misc unmounted if this script mounted it, when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE_DIR=${PI_CACHE_DIR:-$HOME/.cache/pi-nspawn}
host_mirror() {
    awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep . && return
    awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null
}
MIRROR=${PI_MIRROR:-$(host_mirror)}
# python3-venv: the role's venv; ddclient and its Perl TLS stack for the comparison
# (debootstrap does not resolve virtual packages: perl-openssl-defaults by name).
PACKAGES=python3,python3-venv,ca-certificates,ddclient,perl-openssl-defaults,libio-socket-ssl-perl,libnet-ssleay-perl,libio-socket-inet6-perl,libjson-pp-perl,libdigest-sha-perl
HOST_PACKAGES=(qemu-user-static binfmt-support debootstrap zstd ddclient perl-openssl-defaults libio-socket-ssl-perl)
# Bump IMAGE_REV whenever PACKAGES or the customisation below changes: it is the cache key.
IMAGE_REV=1
TARBALL="$CACHE_DIR/bookworm-armel-pi1-r$IMAGE_REV.tar.zst"
BINFMT=/proc/sys/fs/binfmt_misc
ENTRY=pi-ddns-arm1176
export QEMU_CPU=arm1176

log() { printf '[pi1 %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[pi1 %s] ERROR: %s\n' "$(date +%T)" "$*" >&2; exit 1; }

host_packages() {
    # Guarded: only what is missing, and no service of ddclient's is started on the host.
    local missing=() p
    for p in "${HOST_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} = 0 ] && return 0
    log "installing ${missing[*]}"
    local policy=/usr/sbin/policy-rc.d had_policy=0
    [ -e $policy ] && had_policy=1
    if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' >$policy; chmod 0755 $policy; fi
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
        --no-install-recommends "${missing[@]}" >/dev/null
    [ $had_policy = 1 ] || rm -f $policy
    # The package's own daemon must not run on the host (the bench runs ddclient itself).
    systemctl disable --now ddclient >/dev/null 2>&1 || true
}

mounted_binfmt=0
binfmt_on() {
    if ! mountpoint -q $BINFMT; then
        mount -t binfmt_misc binfmt_misc $BINFMT
        mounted_binfmt=1
    fi
    [ -e $BINFMT/$ENTRY ] && echo -1 >$BINFMT/$ENTRY
    # 32-bit little-endian ARM ELF executables, as Debian's qemu-arm entry; F: qemu is opened now,
    # so the rootfs needs no copy of it.
    printf ':%s:M::%s:%s:%s:F\n' $ENTRY \
        '\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00' \
        '\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff' \
        /usr/bin/qemu-arm-static >$BINFMT/register
}
binfmt_off() {
    [ -e $BINFMT/$ENTRY ] && echo -1 >$BINFMT/$ENTRY
    if [ $mounted_binfmt = 1 ]; then umount $BINFMT; mounted_binfmt=0; fi
    return 0
}

# A fresh copy of the rootfs per run, in a temp dir; /proc, /dev, /sys bound for Python and pip.
work=''
mounts=()
cleanup() {
    local m i
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do m=${mounts[i]}; umount -l "$m" 2>/dev/null || true; done
    mounts=()
    binfmt_off
    if [ -n "$work" ] && [ "${PI1_KEEP:-0}" != 1 ]; then rm -rf "$work"; fi
    [ -z "$work" ] || [ "${PI1_KEEP:-0}" != 1 ] || log "kept $work/rootfs"
}
trap cleanup EXIT

bind() { mkdir -p "$2"; mount --bind "$1" "$2"; mounts+=("$2"); }
in_pi() {
    # in_pi CMD...: run CMD in the rootfs as the emulated Pi 1, with a clean environment.
    chroot "$work/rootfs" /usr/bin/env -i QEMU_CPU=arm1176 PATH=/usr/local/bin:/usr/bin:/bin \
        HOME=/root LANG=C.UTF-8 "$@"
}
check_cpu() {
    local m; m=$(in_pi uname -m)
    [ "$m" = armv6l ] || die "the emulated CPU is $m, not armv6l: QEMU_CPU=arm1176 did not apply"
}

build_image() {
    mkdir -p "$CACHE_DIR"
    exec 8>"$CACHE_DIR/.pi1.lock"
    flock 8
    [ -s "$TARBALL" ] && { log "cached rootfs $TARBALL"; flock -u 8; return 0; }
    [ -n "$MIRROR" ] || die "no Debian mirror in the host's apt sources; set PI_MIRROR"
    local build="$CACHE_DIR/pi1-build.$$" t0=$SECONDS
    rm -rf "$build"
    log "debootstrap bookworm armel, first stage, from $MIRROR; log $CACHE_DIR/pi1-debootstrap.log"
    debootstrap --foreign --arch=armel --variant=minbase --include="$PACKAGES" bookworm "$build" "$MIRROR" \
        >"$CACHE_DIR/pi1-debootstrap.log" 2>&1 \
        || { tail -30 "$CACHE_DIR/pi1-debootstrap.log" >&2; rm -rf "$build"; die "debootstrap failed"; }
    log "second stage, emulated (several minutes)"
    binfmt_on
    chroot "$build" /usr/bin/env -i QEMU_CPU=arm1176 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        /debootstrap/debootstrap --second-stage >>"$CACHE_DIR/pi1-debootstrap.log" 2>&1 \
        || { tail -30 "$CACHE_DIR/pi1-debootstrap.log" >&2; binfmt_off; rm -rf "$build"; die "second stage failed"; }
    binfmt_off
    # No network beyond loopback: name lookups fail fast. No ddclient daemon config of Debian's.
    echo 'nameserver 127.0.0.1' >"$build/etc/resolv.conf"
    rm -rf "$build"/var/cache/apt/archives/*.deb "$build"/var/lib/apt/lists/*
    tar -C "$build" --numeric-owner -cf - . | zstd -T0 -3 -q -o "$TARBALL.tmp"
    mv "$TARBALL.tmp" "$TARBALL"
    rm -rf "$build"
    log "rootfs ready in $((SECONDS - t0))s: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
    flock -u 8
}

up() {
    # A fresh copy of the cached rootfs, with binfmt and the bind mounts.
    if [ -n "${PI1_WORK:-}" ] && [ -d "$PI1_WORK/rootfs" ]; then
        work=$PI1_WORK; PI1_KEEP=1   # a kept copy (PI1_KEEP=1 earlier), reused as it is
    else
        build_image
        work=$(mktemp -d /var/tmp/pi1.XXXXXX)
        mkdir "$work/rootfs"
        zstd -dc "$TARBALL" | tar -C "$work/rootfs" --numeric-owner -xf -
    fi
    binfmt_on
    bind /proc "$work/rootfs/proc"
    bind /dev "$work/rootfs/dev"
    bind /sys "$work/rootfs/sys"
    check_cpu
}

install_pi_ddns() {
    # The role's exact wheelhouse (its own script, built on the "controller"), installed in the
    # emulated Pi with the README's commands, offline; then natively with /usr/bin/python3 and the
    # same files, for the native column of the table. CPU per step, wait4() (pi1.py --install).
    wh="$work/rootfs/opt/pi-ddns/wheelhouse"
    native=$work/native/venv
    rm -rf "$work/rootfs/opt/pi-ddns/venv" "$native"   # a reused copy (PI1_WORK): install afresh
    bash updater/wheelhouse.sh "$wh" >&2
    mkdir -p "$work/native"
    PI1_ROOTFS="$work/rootfs" PI1_NATIVE_VENV=$native PI1_NATIVE_WHEELHOUSE=$wh \
        updater/.venv/bin/python -m updater.bench.pi1 --install
}

offline_test() {
    local t_all=$SECONDS wh native v
    install_pi_ddns
    in_pi /opt/pi-ddns/venv/bin/python -c 'import platform; assert platform.machine() == "armv6l", platform.machine()'
    v=$(in_pi /opt/pi-ddns/venv/bin/pi-ddns --version)
    log "emulated pi-ddns --version: $v"
    # A changed run, then a no-change run, against the loopback fakes (the chroot shares the
    # host's network).
    PI1_ROOTFS="$work/rootfs" PI1_NATIVE_VENV=$native updater/.venv/bin/python -m updater.bench.pi1 --check
    log "offline-install test passed in $((SECONDS - t_all))s"
}

bench() {
    local wh native=$work/native/venv
    install_pi_ddns
    PI1_ROOTFS="$work/rootfs" PI1_NATIVE_VENV=$native updater/.venv/bin/python -m updater.bench.pi1 "$@"
}

[ "$(id -u)" = 0 ] || die "needs root (chroot, binfmt_misc)"
cmd=${1:-test}; shift || true
host_packages
case $cmd in
    image) build_image ;;
    test) up; offline_test ;;
    bench) up; bench "$@" ;;
    shell) up; in_pi /bin/bash ;;
    run) up; in_pi "$@" ;;
    *) die "unknown command $cmd (image, test, bench, shell, run)" ;;
esac
