#!/usr/bin/env bash
# The updater's whole test suite on Debian trixie's Python (3.13), with the same locked wheels
# as the Pi and the host's 3.11 run: inside the cached trixie rootfs (scripts/trixie-rootfs.sh),
# which shares the host's network (the tests' fakes listen on loopback) and sees the project
# at the same path, so ../shared is found as on the host.
#
#   scripts/py-matrix.sh [PYTEST ARGS...]
#
# The venv (kept in the rootfs's work directory, keyed by the lock, the test tools, the
# pyproject and this project's path) gets: the runtime set from updater/requirements.lock
# (pure wheels, --require-hashes, installed --no-index), the test tools from
# requirements-test.txt, then pi-ddns editable, as updater/bootstrap-venv.sh does on the host.
# Cost: warm 60 s (the suite); cold adds the rootfs (60-100 s) and the venv (about 40 s).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rootfs=scripts/trixie-rootfs.sh
$rootfs build
key=$(cat updater/requirements.lock updater/requirements-test.txt updater/pyproject.toml "$0" \
      <(echo "$root") | sha256sum | cut -c1-12)
venv=$($rootfs work)/venvs/updater-$key

# shellcheck disable=SC2016 # expanded inside the rootfs
$rootfs run bash -euo pipefail -c '
    venv=$1; cd updater
    [ -f "$venv/.ready" ] && exit 0
    echo "py-matrix: making $venv ($(python3 --version))"
    rm -rf "$venv"; python3 -m venv "$venv"
    pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
    "${pip[@]}" download --no-deps --require-hashes --only-binary=:all: -d "$venv/wheelhouse" \
        -r requirements.lock
    "${pip[@]}" install --no-index --find-links "$venv/wheelhouse" --only-binary=:all: \
        --require-hashes -r requirements.lock
    "${pip[@]}" install -r requirements-test.txt
    "${pip[@]}" install --no-deps -e .
    "${pip[@]}" check
    touch "$venv/.ready"' py-matrix "$venv"

exec $rootfs run "$venv/bin/python" -m pytest -p no:cacheprovider -q -ra "$@" updater/tests
