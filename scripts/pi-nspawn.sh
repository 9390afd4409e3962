#!/usr/bin/env bash
# Boot a Debian rootfs (trixie or bookworm) with systemd as PID 1 under
# systemd-nspawn, in its own network namespace, reachable over SSH from the
# host: a stand-in for a Raspberry Pi OS card flashed today: user 'pi' in the
# first user's groups, sudo only with the user's password, SSH host keys of
# its own (made at create, as a real card makes them at first boot).
#
# Works without systemd as host PID 1 (--register=no --keep-unit).
# Needs root, debootstrap, systemd-container, iproute2, zstd, openssh-client.
#
#   pi-nspawn.sh image                     build the cached base tarball if missing
#   pi-nspawn.sh base                      the image unpacked (read-only: use it as an overlay's lower layer); prints its path
#   pi-nspawn.sh create NAME INDEX PUBKEY  boot instance NAME at 10.213.INDEX.2
#   pi-nspawn.sh destroy NAME              stop and remove instance NAME (no error if absent)
#   pi-nspawn.sh exec NAME CMD...          run CMD inside the instance (nsenter)
#   pi-nspawn.sh list                      instances, their index and whether they run
#   pi-nspawn.sh sweep [NAME...]           remove dead instances (left by an aborted run)
#                                          and the named ones, running or not
#
# The instance reaches nothing but its own link: host 10.213.INDEX.1 <-> instance 10.213.INDEX.2.
# While any instance exists, the host routes 10.213.0.0/16 as "unreachable": traffic for an
# instance whose link is gone fails at once instead of leaving by the default route (the
# per-instance /30 link routes are more specific and win).
#
# Environment:
#   PI_CACHE_DIR  where the base tarball lives   (default: ~/.cache/pi-nspawn)
#   PI_WORK_DIR   where instances are unpacked   (default: /var/tmp/pi-nspawn)
#   PI_MIRROR     Debian mirror for debootstrap  (default: the first URI of the host's own apt sources)
#   PI_SUITE      Debian suite: trixie (default: Raspberry Pi OS today) or bookworm;
#                 each suite has its own cached image
#   PI_ARCH       debootstrap architecture (default: the host's)
#   PI_USER       the first user, like Raspberry Pi OS's 'pi' (default: pi)
#   PI_PASSWORD   that user's password, which sudo asks for (default: raspberry); set at create
#   PI_NET_PREFIX first two octets of the per-instance /30 (default: 10.213)
#   PI_QUIET      1: only warnings and errors on stderr
set -euo pipefail

CACHE_DIR=${PI_CACHE_DIR:-$HOME/.cache/pi-nspawn}
WORK_DIR=${PI_WORK_DIR:-/var/tmp/pi-nspawn}
host_mirror() {
    # The mirror this host's apt already uses: deb822 sources first, then the classic list.
    awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep . && return
    awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null
}
MIRROR=${PI_MIRROR:-$(host_mirror)}
SUITE=${PI_SUITE:-trixie}
ARCH=${PI_ARCH:-$(dpkg --print-architecture)}
PI_USER=${PI_USER:-pi}
# Raspberry Pi OS's first user is in these groups (pi-gen); Debian lacks gpio, i2c and spi,
# and a minbase netdev: the image adds them as system groups. adm reads the journal.
PI_GROUPS="adm dialout cdrom sudo audio video plugdev games users input render netdev gpio i2c spi"
NET_PREFIX=${PI_NET_PREFIX:-10.213}
PACKAGES=systemd,systemd-sysv,dbus,libpam-systemd,python3,python3-apt,python3-venv,openssh-server,sudo,iproute2
# Bump IMAGE_REV whenever PACKAGES or the customisation below changes: it is part of the cache key.
IMAGE_REV=2
BASE_TARBALL="$CACHE_DIR/$SUITE-$ARCH-pi-r$IMAGE_REV.tar.zst"
BASE_DIR="$CACHE_DIR/$SUITE-$ARCH-pi-r$IMAGE_REV.rootfs"

log() { [ "${PI_QUIET:-0}" = 1 ] || printf '[pi-nspawn %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[pi-nspawn %s] ERROR: %s\n' "$(date +%T)" "$*" >&2; exit 1; }

cgroup_roots() {
    # Hierarchies nspawn needs a cgroup of its own in: the unified (v2) one and,
    # on legacy/hybrid hosts, the name=systemd one.
    if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
        echo /sys/fs/cgroup
    else
        [ -d /sys/fs/cgroup/systemd ] && echo /sys/fs/cgroup/systemd
        [ -d /sys/fs/cgroup/unified ] && echo /sys/fs/cgroup/unified
    fi
    return 0
}

with_lock() {
    # Serialise image builds and unpacks between concurrent runs (tests, demo, other users).
    mkdir -p "$CACHE_DIR"
    exec 9>"$CACHE_DIR/.lock"
    flock 9
    "$@"
    flock -u 9
}

build_image_locked() {
    [ -s "$BASE_TARBALL" ] && { log "cached image $BASE_TARBALL"; return 0; }
    [ -n "$MIRROR" ] || die "no Debian mirror found in the host's apt sources; set PI_MIRROR"
    local build="$CACHE_DIR/build.$$"
    rm -rf "$build"
    log "debootstrap $SUITE ($ARCH) from $MIRROR, once (1-3 min); log $CACHE_DIR/debootstrap.log"
    local t0=$SECONDS
    debootstrap --arch="$ARCH" --variant=minbase --include="$PACKAGES" "$SUITE" "$build" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 \
        || { tail -30 "$CACHE_DIR/debootstrap.log" >&2; rm -rf "$build"; die "debootstrap failed"; }
    log "debootstrap took $((SECONDS - t0))s"
    # Raspberry Pi OS's first user, as Imager makes it today: the first user's groups, and
    # sudo through the sudo group only, so it asks for the password (set at create).
    local g
    for g in $PI_GROUPS; do
        chroot "$build" getent group "$g" >/dev/null || chroot "$build" groupadd --system "$g"
    done
    chroot "$build" useradd --create-home --shell /bin/bash --groups "${PI_GROUPS// /,}" "$PI_USER"
    install -d -m 0700 -o 1000 -g 1000 "$build/home/$PI_USER/.ssh"
    # Host keys are made per instance at create, as a card makes its own at first boot.
    rm -f "$build"/etc/ssh/ssh_host_*
    # Every instance gets its own machine-id at first boot.
    : >"$build/etc/machine-id"
    rm -f "$build/var/lib/dbus/machine-id"
    # No network beyond the test link: keep DNS lookups local and failing fast.
    echo 'nameserver 127.0.0.1' >"$build/etc/resolv.conf"
    rm -rf "$build"/var/cache/apt/archives/*.deb
    tar -C "$build" --numeric-owner -cf - . | zstd -T0 -3 -q -o "$BASE_TARBALL.tmp"
    mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
    rm -rf "$build"
    log "image ready: $BASE_TARBALL ($(du -h "$BASE_TARBALL" | cut -f1))"
}

unpack_base_locked() {
    # One read-only unpacked copy of the image: the shared lower layer of every instance's overlay.
    [ -d "$BASE_DIR" ] && return 0
    log "unpacking $BASE_TARBALL into $BASE_DIR (shared lower layer)"
    rm -rf "$BASE_DIR.tmp"; mkdir -p "$BASE_DIR.tmp"
    zstd -dc "$BASE_TARBALL" | tar -C "$BASE_DIR.tmp" --numeric-owner -xf -
    mv -T "$BASE_DIR.tmp" "$BASE_DIR"
}

route_sync_locked() {
    # The unreachable route for the whole test range exists exactly while an instance does:
    # a directory under WORK_DIR (booting, running or dead), or a host address in the range
    # (an instance of another WORK_DIR). Idempotent.
    local d
    for d in "$WORK_DIR"/*/; do
        if [ -d "$d" ]; then
            ip route replace unreachable "$NET_PREFIX.0.0/16"
            return 0
        fi
    done
    if [ -n "$(ip -4 -o addr show to "$NET_PREFIX.0.0/16")" ]; then
        ip route replace unreachable "$NET_PREFIX.0.0/16"
    else
        ip route del unreachable "$NET_PREFIX.0.0/16" 2>/dev/null || true
    fi
}

with_route_lock() {
    # Instance directories and the route change together, between concurrent creates and
    # destroys (of any WORK_DIR: the lock is the host's).
    exec 8>/run/lock/pi-nspawn-route.lock
    flock 8
    "$@"
    flock -u 8
}

nspawn_pid() { cat "$WORK_DIR/$1/nspawn.pid" 2>/dev/null; }
is_running() { local p; p=$(nspawn_pid "$1") && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

leader_pid() {
    # PID (on the host) of the instance's systemd: the child of systemd-nspawn.
    local pid
    pid=$(nspawn_pid "$1") || die "no instance $1"
    pgrep -P "$pid" | head -n1
}

check_args() {
    local name=$1 index=$2
    [[ $name =~ ^[a-z0-9][a-z0-9-]{0,39}$ ]] || die "instance name '$name': 1-40 of [a-z0-9-]"
    if ! [[ $index =~ ^[0-9]+$ ]] || [ "$index" -lt 1 ] || [ "$index" -gt 254 ]; then die "index '$index': 1..254"; fi
    local other
    for other in "$WORK_DIR"/*/index; do
        [ -f "$other" ] || continue
        [ "$(dirname "$other")" = "$WORK_DIR/$name" ] && continue
        if [ "$(cat "$other")" = "$index" ] && is_running "$(basename "$(dirname "$other")")"; then
            die "index $index is in use by instance $(basename "$(dirname "$other")")"
        fi
    done
}

create() {
    [ $# -eq 3 ] || die "usage: create NAME INDEX PUBKEY"
    local name=$1 index=$2 pubkey=$3
    local dir="$WORK_DIR/$name" root="$WORK_DIR/$name/rootfs" netns="pi-$name"
    local host_if="pi-h$index" addr_host="$NET_PREFIX.$index.1" addr_inst="$NET_PREFIX.$index.2"
    check_args "$name" "$index"
    [ -r "$pubkey" ] || die "public key $pubkey not readable"
    with_lock build_image_locked
    with_lock unpack_base_locked
    if [ -e "$dir" ] || ip netns list | grep -q "^$netns\b"; then destroy "$name"; fi
    with_route_lock new_instance_dir_locked "$dir" "$index"
    mount -t overlay "pi-$name" -o "lowerdir=$BASE_DIR,upperdir=$dir/upper,workdir=$dir/ovl-work" "$root"
    echo "$name" >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$name" >"$root/etc/hosts"
    install -m 0600 -o 1000 -g 1000 "$pubkey" "$root/home/$PI_USER/.ssh/authorized_keys"
    ssh-keygen -q -A -f "$root" >/dev/null   # this instance's own host keys (rsa, ecdsa, ed25519)
    # The password lives as a hash in the instance's /etc/shadow; not on a command line.
    printf '%s:%s\n' "$PI_USER" "${PI_PASSWORD:-raspberry}" | chroot "$root" chpasswd

    log "$name: network namespace $netns, host $addr_host <-> instance $addr_inst"
    ip netns add "$netns"
    ip link add "$host_if" type veth peer name eth0 netns "$netns"
    ip addr add "$addr_host/30" dev "$host_if"
    ip link set "$host_if" up
    ip -n "$netns" link set lo up
    ip -n "$netns" addr add "$addr_inst/30" dev eth0
    ip -n "$netns" link set eth0 up

    # A cgroup of its own, so that concurrent instances don't collide and destroy can clean up.
    local cg
    for cg in $(cgroup_roots); do mkdir -p "$cg/pi-nspawn/$name"; done
    log "$name: booting"
    # shellcheck disable=SC2016
    setsid bash -c '
        for cg in '"$(cgroup_roots | tr '\n' ' ')"'; do echo $$ >"$cg/pi-nspawn/'"$name"'/cgroup.procs"; done
        exec systemd-nspawn --boot --quiet \
            --directory="'"$root"'" --machine="'"$name"'" \
            --register=no --keep-unit \
            --network-namespace-path=/run/netns/'"$netns"' \
            --resolv-conf=off --link-journal=no \
            --console=read-only' >"$dir/console.log" 2>&1 </dev/null &
    echo $! >"$dir/nspawn.pid"

    local t0=$SECONDS state="" pid
    while :; do
        if ! is_running "$name"; then
            tail -30 "$dir/console.log" >&2; die "systemd-nspawn for $name exited early"
        fi
        if pid=$(leader_pid "$name") && [ -n "$pid" ]; then
            state=$(nsenter -t "$pid" -a systemctl is-system-running 2>/dev/null || true)
            case $state in running|degraded) break ;; esac
        fi
        [ $((SECONDS - t0)) -gt 120 ] && { tail -30 "$dir/console.log" >&2; die "$name: boot timeout, state=$state"; }
        sleep 0.5
    done
    log "$name: systemd $state after $((SECONDS - t0))s"
    # sshd is up by then (multi-user.target reached); make sure it accepts connections.
    for _ in $(seq 1 40); do
        if (exec 3<>"/dev/tcp/$addr_inst/22") 2>/dev/null; then log "$name: ssh pi@$addr_inst ready"; return 0; fi
        sleep 0.25
    done
    die "$name: sshd not reachable on $addr_inst:22"
}

kill_cgroup() {
    # Whatever is left in the instance's cgroups (an nspawn that lost its child,
    # a stray nsenter) would keep them busy: kill it so rmdir can succeed.
    local cg=$1 procs
    [ -d "$cg" ] || return 0
    procs=$(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    [ -n "$procs" ] || return 0
    # shellcheck disable=SC2086
    kill -KILL $procs 2>/dev/null || true
    sleep 0.5
}

destroy() {
    [ $# -eq 1 ] || die "usage: destroy NAME"
    local name=$1 dir="$WORK_DIR/$1" netns="pi-$1" pid cg
    if is_running "$name"; then
        pid=$(nspawn_pid "$name")
        local leader; leader=$(pgrep -P "$pid" | head -n1 || true)
        log "$name: powering off"
        kill -TERM "$pid"   # nspawn forwards this as SIGRTMIN+3: clean poweroff
        # A throwaway instance needs no patient shutdown (open SSH sessions can hold it up).
        for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            # Killing the instance's PID 1 takes its whole PID namespace with it.
            log "$name: still running after 5s, SIGKILL"
            [ -n "$leader" ] && kill -KILL "$leader" 2>/dev/null
            kill -KILL "$pid" 2>/dev/null; sleep 1
        fi
    fi
    ip netns del "$netns" 2>/dev/null || true   # takes the veth pair with it
    for cg in $(cgroup_roots); do
        kill_cgroup "$cg/pi-nspawn/$name"
        if [ -d "$cg/pi-nspawn/$name" ]; then find "$cg/pi-nspawn/$name" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
        rmdir "$cg/pi-nspawn" 2>/dev/null || true
    done
    [ -f "$dir/console.log" ] && cp "$dir/console.log" "$WORK_DIR/$name.last-console.log"
    if mountpoint -q "$dir/rootfs" 2>/dev/null; then umount "$dir/rootfs" 2>/dev/null || umount -l "$dir/rootfs"; fi
    [ -e "$dir" ] && rm -rf --one-file-system "$dir"
    with_route_lock route_sync_locked
    log "$name: destroyed"
}

list() {
    local d n
    for d in "$WORK_DIR"/*/; do
        [ -d "$d" ] || continue
        n=$(basename "$d")
        printf '%-14s index %-4s %s\n' "$n" "$(cat "$d/index" 2>/dev/null || echo '?')" \
            "$(is_running "$n" && echo running || echo dead)"
    done
}

sweep() {
    # Dead instances (nspawn gone: an aborted run, a reboot) still hold a mount,
    # a netns and cgroups; the named ones go whether they run or not.
    local d n ns
    for n in "$@"; do destroy "$n"; done
    for d in "$WORK_DIR"/*/; do
        [ -d "$d" ] || continue
        n=$(basename "$d")
        is_running "$n" || { log "$n: stale, removing"; destroy "$n"; }
    done
    for ns in $(ip netns list | awk '$1 ~ /^pi-/ {print $1}'); do
        [ -d "$WORK_DIR/${ns#pi-}" ] || { log "$ns: stale network namespace, removing"; ip netns del "$ns" || true; }
    done
    with_route_lock route_sync_locked
}

new_instance_dir_locked() {
    mkdir -p "$1/rootfs" "$1/upper" "$1/ovl-work"
    echo "$2" >"$1/index"
    route_sync_locked
}

cmd=${1:-}; shift || true
case $cmd in
    image) with_lock build_image_locked ;;
    base) with_lock build_image_locked; with_lock unpack_base_locked; echo "$BASE_DIR" ;;
    create) create "$@" ;;
    destroy) destroy "$@" ;;
    exec) n=$1; shift; nsenter -t "$(leader_pid "$n")" -a "$@" ;;
    list) list ;;
    sweep) sweep "$@" ;;
    *) echo "usage: $0 image|create NAME INDEX PUBKEY|destroy NAME|exec NAME CMD...|list|sweep [NAME...]" >&2; exit 2 ;;
esac
