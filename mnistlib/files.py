"""The one check every reader of a user's file starts with: it exists and is not empty."""

from __future__ import annotations

import os
from pathlib import Path


def require_nonempty_file(
    path: str | os.PathLike[str],
    missing: type[Exception],
    empty: type[Exception],
    kind: str = "file",
) -> Path:
    """Return ``path`` as a ``Path``; raise ``missing`` if it is not a file, ``empty`` if empty.

    The messages name the file: ``"<path>: no such <kind>"``, ``"<path>: the <kind> is empty"``,
    ``"<path>: a folder, not a <kind>"``.
    """
    path = Path(path)
    if path.is_dir():
        raise missing(f"{path}: a folder, not a {kind}")
    if not path.is_file():
        raise missing(f"{path}: no such {kind}")
    if path.stat().st_size == 0:
        raise empty(f"{path}: the {kind} is empty")
    return path
