#!/usr/bin/env bash
# Build the collection's release tarball, reproducibly:
#
#   scripts/release.sh [OUTDIR]        (make release; OUTDIR defaults to dist/)
#   scripts/release.sh --check         build twice in fresh directories, fail unless the bytes match
#   scripts/release.sh --changelog     turn changelogs/fragments into changelogs/changelog.yaml and
#                                      CHANGELOG.md for galaxy.yml's version (a release commit's step)
#
# What goes in: the files git tracks (plus new, not ignored ones), filtered by galaxy.yml's
# build_ignore, and roles/ddns/files/wheelhouse.tar: the locked pure-Python wheels and the pi_ddns
# wheel (their manifest beside it, files/wheelhouse/requirements.txt), built here by
# updater/wheelhouse.sh (pip needs PyPI for this build only). A controller that installs the
# tarball needs no package index: the role copies these very wheels to the Pi.
#
# Same commit, same bytes: every file's mtime is the commit's time, the entries are sorted, owners
# are root, FILES.json lists files in sorted order and gzip's header carries no time or name.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH" PIP_DISABLE_PIP_VERSION_CHECK=1
py=$root/.venv/bin/python

version() { sed -n 's/^version: *//p' galaxy.yml; }

build() {
    # build OUTDIR: one tarball into OUTDIR; prints its path.
    local out=$1 stage epoch tarball
    stage=$(mktemp -d /tmp/pi-ddns-release.XXXXXX)
    # shellcheck disable=SC2064  # expand now: the trap outlives this function's locals
    trap "rm -rf '$stage' '$stage.build'" RETURN
    epoch=$(git log -1 --format=%ct)
    if [ -n "$(git status --porcelain)" ]; then
        echo "release: the tree has uncommitted changes: this is not a build of $(git rev-parse --short HEAD)" >&2
    fi
    # Tracked and new files as they are in the tree (= git archive HEAD on a clean checkout).
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
        | tar --null -T - -cf - | tar -xf - -C "$stage"
    PYTHON=$py bash updater/wheelhouse.sh "$stage/roles/ddns/files/wheelhouse" >&2
    # The role ships a build as one tar (tasks/wheelhouse.yml), so the wheels go in once: the tar,
    # and beside it the directory with the manifest alone (the role reads its hash; its presence
    # tells the role that a release ships the wheelhouse). The build cache stays out too.
    mv "$stage"/roles/ddns/files/wheelhouse.builds/*.tar "$stage/roles/ddns/files/wheelhouse.tar"
    rm -rf "$stage/roles/ddns/files/wheelhouse.builds"
    find "$stage/roles/ddns/files/wheelhouse" -type f ! -name requirements.txt -delete
    mkdir -p "$out"
    tarball=$out/pi_ddns-appliance-$(version).tar.gz
    ansible-galaxy collection build --force --output-path "$stage.build" "$stage" >&2
    "$py" "$root/scripts/repack.py" "$epoch" "$stage.build/pi_ddns-appliance-$(version).tar.gz" "$tarball"
    echo "$tarball"
}

case ${1:-} in
    --changelog)
        # antsibull-changelog (requirements-dev.txt) reads galaxy.yml's version and the fragments.
        antsibull-changelog release --version "$(version)"
        rm -f changelogs/.plugin-cache.yaml
        git status --short changelogs CHANGELOG.md
        ;;
    --check)
        a=$(mktemp -d /tmp/pi-ddns-release-a.XXXXXX) b=$(mktemp -d /tmp/pi-ddns-release-b.XXXXXX)
        trap 'rm -rf "$a" "$b"' EXIT
        ta=$(build "$a") tb=$(build "$b")
        sa=$(sha256sum "$ta" | cut -d' ' -f1) sb=$(sha256sum "$tb" | cut -d' ' -f1)
        echo "release: build 1 sha256 $sa"
        echo "release: build 2 sha256 $sb"
        [ "$sa" = "$sb" ] || { echo "release: two builds differ: the build is not reproducible" >&2; exit 1; }
        echo "release: reproducible ($(stat -c %s "$ta") bytes)"
        ;;
    -*) echo "usage: $0 [OUTDIR] | --check | --changelog" >&2; exit 64 ;;
    *)
        t=$(build "${1:-dist}")
        echo "release: $t"
        echo "release: size $(stat -c %s "$t") bytes, $(tar -tzf "$t" | wc -l) entries"
        echo "release: sha256 $(sha256sum "$t" | cut -d' ' -f1)"
        ;;
esac
