#!/usr/bin/env bash
# Create updater/.venv (Python 3.11) for tests, idempotently:
#   1. the runtime set from requirements.lock, as the Pi gets it: the same pure wheels
#      (downloaded with --platform any, installed --no-index --require-hashes);
#   2. the test tools from requirements-test.txt;
#   3. pi-ddns itself, editable, without deps.
# Rerunning skips what is already in place. PYTHON=python3.11 overrides the interpreter.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-$(command -v python3.11 || command -v python3)}
venv=$here/.venv
wh=$here/.venv/wheelhouse
stamp=$venv/.bootstrap-stamp
# Concurrent callers (test scripts, CI, a human) take turns: lock on this script itself.
exec 9<"$0"
flock 9
quiet() { "$@" 2> >(grep -v '^WARNING: Location' >&2) >/dev/null; }

want=$(cat "$here/requirements.lock" "$here/requirements-test.txt" "$here/pyproject.toml" | sha256sum)
if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
  echo "bootstrap-venv: $venv is up to date"
  exit 0
fi

echo "bootstrap-venv: [1/4] creating $venv with $py"
"$py" -c 'import sys; assert sys.version_info[:2] >= (3, 11), sys.version' 
quiet "$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)

echo "bootstrap-venv: [2/4] runtime set: pure wheels from requirements.lock (--require-hashes)"
quiet "${pip[@]}" download --no-deps --require-hashes --only-binary=:all: \
  --platform any --implementation py --abi none --python-version 3.11 \
  -d "$wh" -r "$here/requirements.lock"
quiet "${pip[@]}" install --no-index --find-links "$wh" --only-binary=:all: --require-hashes \
  -r "$here/requirements.lock"

echo "bootstrap-venv: [3/4] test tools from requirements-test.txt"
quiet "${pip[@]}" install -r "$here/requirements-test.txt"

echo "bootstrap-venv: [4/4] pi-ddns (editable, --no-deps)"
quiet "${pip[@]}" install --no-deps -e "$here"
quiet "${pip[@]}" check

echo "$want" >"$stamp"
echo "bootstrap-venv: ready: $venv/bin/python -m pytest (in $here)"
