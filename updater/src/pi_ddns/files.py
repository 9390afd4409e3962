"""Read a small local file safely: a regular file only, never blocking, never unbounded.

A FIFO at the config, token or state path would hang a plain open() for ever; /dev/zero or a
huge file would eat the memory. Every file pi-ddns reads goes through read_regular().
"""

from __future__ import annotations

import errno
import os
import stat


class FileRefused(OSError):
    """Not a regular file, or larger than allowed. `strerror` says which, for the message."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of `path`, at most `limit` of them.

    Raises FileRefused when it is not a regular file (a directory, FIFO, device, socket), is
    longer than `limit` or its path holds a NUL byte (its strerror is a phrase for a message),
    and OSError (FileNotFoundError, PermissionError...) as open() does.
    O_NONBLOCK makes opening a FIFO return at once instead of waiting for a writer.
    """
    if "\0" in os.fspath(path):
        raise FileRefused(errno.EINVAL, "the path contains a NUL byte", os.fspath(path))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _kind(mode)
            what = kind if kind.startswith("not") else f"{kind}, not a regular file"
            raise FileRefused(errno.EINVAL, what, os.fspath(path))
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileRefused(errno.EFBIG, f"larger than {limit} bytes", os.fspath(path))
        return b"".join(chunks)
    finally:
        os.close(fd)
