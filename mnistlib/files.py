"""The one check every reader of a user's file starts with: a readable, non-empty file."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: What a path is when it is not a regular file, by the test of its mode.
NOT_A_FILE = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a pipe (FIFO)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def require_nonempty_file(
    path: str | os.PathLike[str],
    missing: type[Exception],
    empty: type[Exception],
    kind: str = "file",
) -> Path:
    """Return ``path`` as a ``Path``; raise ``missing`` unless a readable file, ``empty`` if empty.

    The messages name the file and say what it is instead: ``"<path>: no such
    <kind>"``, ``"<path>: a folder, not a <kind>"`` (likewise a pipe, a device,
    a socket), ``"<path>: a symbolic link that loops"``, ``"<path>: cannot be
    read (...)"``, ``"<path>: the <kind> is empty"``. Nothing but a regular
    file is ever opened (opening a pipe would wait for ever).
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise missing(f"{path}: no such {kind}") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise missing(f"{path}: a symbolic link that loops, not a {kind}") from None
        raise missing(f"{path}: cannot be examined ({error.strerror})") from None
    for test, what in NOT_A_FILE:
        if test(mode):
            raise missing(f"{path}: {what}, not a {kind}")
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as error:
        raise missing(f"{path}: cannot be read ({error.strerror})") from None
    if path.stat().st_size == 0:
        raise empty(f"{path}: the {kind} is empty")
    return path
