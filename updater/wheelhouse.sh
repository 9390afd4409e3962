#!/usr/bin/env bash
# Build the pi-ddns wheelhouse into DIR (on the controller), ready for an offline install:
#
#   updater/wheelhouse.sh DIR
#   # then, on the target (DIR copied there):
#   pip install --isolated --no-index --find-links DIR --only-binary=:all: --require-hashes \
#       -r DIR/requirements.txt
#
# DIR ends up holding exactly: the locked pure wheels, pi_ddns-VERSION-py3-none-any.whl and
# requirements.txt (= requirements.lock + the pi-ddns wheel's own hash line). The build is
# reproducible, so a rerun on the same source leaves every byte as it was and the last line
# says "unchanged" (the role's copy then reports no change).
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 64; }
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
out=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pipq=("$py" -m pip --disable-pip-version-check --quiet)
# Keep stderr readable: drop pip's notes about configured-but-absent local indexes.
quiet() { "$@" 2> >(grep -v '^WARNING: Location' >&2); }

echo "wheelhouse: downloading the locked pure wheels" >&2
quiet "${pipq[@]}" download --no-deps --require-hashes --only-binary=:all: \
  --platform any --implementation py --abi none --python-version 3.11 \
  -d "$tmp/wh" -r "$here/requirements.lock"

echo "wheelhouse: building the pi-ddns wheel" >&2
quiet "${pipq[@]}" wheel --no-deps -w "$tmp/wh" "$here"

wheel=$(cd "$tmp/wh" && ls pi_ddns-*-py3-none-any.whl)
version=${wheel#pi_ddns-}; version=${version%%-*}
sum=$(sha256sum "$tmp/wh/$wheel" | cut -d' ' -f1)
{ cat "$here/requirements.lock"; printf '# %s\npi-ddns==%s \\\n    --hash=sha256:%s\n' \
    "$wheel" "$version" "$sum"; } >"$tmp/wh/requirements.txt"

for f in "$tmp/wh"/*; do
  case $(basename "$f") in
    *-py3-none-any.whl | *-py2.py3-none-any.whl | requirements.txt) ;;
    *) echo "wheelhouse: refusing non-universal file $(basename "$f")" >&2; exit 1 ;;
  esac
done

# Sync into DIR without touching identical files (mtimes stay, copies stay idempotent).
mkdir -p "$out"
changed=0
for f in "$out"/*; do
  [[ -e $f && ! -e "$tmp/wh/$(basename "$f")" ]] && { rm -f "$f"; changed=1; }
done
for f in "$tmp/wh"/*; do
  dst="$out/$(basename "$f")"
  cmp -s "$f" "$dst" || { cp "$f" "$dst"; chmod 0644 "$dst"; changed=1; }
done
n=$(ls "$out" | wc -l)
size=$(du -sk "$out" | cut -f1)
if [[ $changed == 1 ]]; then state=changed; else state=unchanged; fi
echo "wheelhouse: $state $out ($n files, ${size} KiB, pi-ddns $version)"
