"""Repack a collection tarball from ansible-galaxy deterministically (scripts/release.sh).

    python scripts/repack.py EPOCH IN.tar.gz OUT.tar.gz

ansible-galaxy stamps MANIFEST.json and FILES.json with the build time, keeps each file's mtime,
lists FILES.json in directory order and writes the build time into the gzip header. Here: FILES.json
is sorted by name (and MANIFEST.json's checksum of it updated), every entry gets mtime EPOCH (the
commit's time), owner root and the mode ansible-galaxy chose, entries are written in sorted order
(MANIFEST.json and FILES.json first, as ansible-galaxy does), and gzip gets mtime 0 and no name.
"""

import gzip
import hashlib
import io
import json
import sys
import tarfile


def main(argv: list[str]) -> int:
    epoch, src, dst = int(argv[0]), argv[1], argv[2]
    with tarfile.open(src, "r:gz") as tin:
        members = {m.name: (m, tin.extractfile(m).read() if m.isfile() else b"") for m in tin.getmembers()}  # type: ignore[union-attr]
    files = json.loads(members["FILES.json"][1])
    files["files"].sort(key=lambda f: f["name"])
    files_json = json.dumps(files, indent=True).encode()
    manifest = json.loads(members["MANIFEST.json"][1])
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_json).hexdigest()
    members["FILES.json"] = (members["FILES.json"][0], files_json)
    members["MANIFEST.json"] = (members["MANIFEST.json"][0], json.dumps(manifest, indent=True).encode())

    order = ["MANIFEST.json", "FILES.json", *sorted(n for n in members if n not in ("MANIFEST.json", "FILES.json"))]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tout:
        for name in order:
            old, data = members[name]
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.linkname = old.type, old.mode, old.linkname
            info.size = len(data) if old.isfile() else 0
            info.mtime, info.uid, info.gid, info.uname, info.gname = epoch, 0, 0, "", ""
            tout.addfile(info, io.BytesIO(data) if old.isfile() else None)
    with open(dst, "wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
