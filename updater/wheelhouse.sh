#!/usr/bin/env bash
# Build the pi-ddns wheelhouse into DIR (on the controller), ready for an offline install:
#
#   updater/wheelhouse.sh DIR
#   # then, on the target (DIR copied there):
#   pip install --isolated --no-index --find-links DIR --only-binary=:all: --require-hashes \
#       -r DIR/requirements.txt
#
# DIR ends up holding exactly: the locked pure wheels, pi_ddns-VERSION-py3-none-any.whl and
# requirements.txt (= requirements.lock + the pi-ddns wheel's own hash line).
#
# Builds are cached by their inputs: the key is a hash of requirements.lock, every file that
# goes into the wheel (pyproject.toml, src/), this script, and the building Python's and pip's
# versions. A build lives, complete and never changed again, in DIR.builds/KEY, with the same
# files as one tar in DIR.builds/KEY.tar (the newest four builds are kept); a run whose key is
# there runs no pip at all. The build is reproducible, so a rebuild on the same source gives
# the same bytes either way.
#
# Output (stdout, two lines; progress goes to stderr):
#   wheelhouse: build DIR.builds/KEY          the immutable copy (the role ships KEY.tar)
#   wheelhouse: changed|unchanged DIR (N files, K KiB, pi-ddns VERSION; cached|built KEY)
# "unchanged" means DIR's bytes did not change (the role's copy then reports no change).
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 64; }
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
out=${1%/}
store=$out.builds
pipq=("$py" -m pip --disable-pip-version-check --quiet)
# Keep stderr readable: drop pip's notes about configured-but-absent local indexes.
quiet() { "$@" 2> >(grep -v '^WARNING: Location' >&2); }

# The inputs, by content (paths relative to the updater, so every checkout of the same source
# shares a key). pip's version is read from its metadata: no pip runs for a cached build.
tool=$("$py" -c 'import sys, importlib.metadata as m; print(sys.version.split()[0], "pip", m.version("pip"))' 2>/dev/null) \
  || { echo "wheelhouse: $py has no pip (it builds the wheelhouse)" >&2; exit 69; }
key=$( { cd "$here"
         find pyproject.toml requirements.lock src -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 \
           | LC_ALL=C sort -z | xargs -0 sha256sum
         sha256sum <"$here/wheelhouse.sh"
         echo "$tool"; } | sha256sum | cut -c1-20)
entry=$store/$key

mkdir -p "$store"
# One run at a time per cache (Molecule runs two plays at once, other checkouts share it).
exec 9>"$store/.lock"
flock 9

if [[ -s $entry/requirements.txt ]]; then
  how=cached
  touch "$entry"
else
  how=built
  tmp=$(mktemp -d "$store/.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
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
  chmod 0755 "$tmp/wh"; chmod 0644 "$tmp/wh"/*
  # The same files as one tar (no compression: wheels are zips), so the role ships a build in
  # one transfer instead of one per file. Members are bare names, root-owned, fixed mtime.
  (cd "$tmp/wh" && find . -maxdepth 1 -type f -printf '%f\n' | LC_ALL=C sort \
     | tar --owner=0 --group=0 --numeric-owner --mtime=@0 --no-recursion -cf "$tmp/wh.tar" -T -)
  rm -rf "$entry" "$entry.tar"
  mv "$tmp/wh.tar" "$entry.tar"
  mv -T "$tmp/wh" "$entry"   # last: a complete entry is a directory with requirements.txt
  # Keep the newest four builds (a branch switch back and forth stays cheap).
  find "$store" -mindepth 1 -maxdepth 1 -type d ! -name '.tmp.*' -printf '%T@ %p\n' \
    | sort -rn | tail -n +5 | cut -d' ' -f2- | while read -r old; do rm -rf "$old" "$old.tar"; done
fi

wheel=$(cd "$entry" && ls pi_ddns-*-py3-none-any.whl)
version=${wheel#pi_ddns-}; version=${version%%-*}

# Sync into DIR without touching identical files (mtimes stay, copies stay idempotent).
mkdir -p "$out"
changed=0
for f in "$out"/*; do
  [[ -e $f && ! -e "$entry/$(basename "$f")" ]] && { rm -f "$f"; changed=1; }
done
for f in "$entry"/*; do
  dst="$out/$(basename "$f")"
  cmp -s "$f" "$dst" || { cp "$f" "$dst"; chmod 0644 "$dst"; changed=1; }
done
n=$(find "$out" -maxdepth 1 -type f | wc -l)
size=$(du -sk "$out" | cut -f1)
if [[ $changed == 1 ]]; then state=changed; else state=unchanged; fi
echo "wheelhouse: build $entry"
echo "wheelhouse: $state $out ($n files, ${size} KiB, pi-ddns $version; $how $key)"
