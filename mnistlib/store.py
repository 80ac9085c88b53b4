"""The model store: where trained models are kept, and how they are written and read.

Each entry is a native ``.keras`` file with a JSON record beside it. Both are
written atomically (a temporary file, then one rename), so an interrupted run
never leaves half a file behind; the record holds the model file's SHA-256,
so a file changed or damaged since is noticed and never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "NotStoredError",
    "StoreError",
    "TrainingDivergedError",
    "atomic_write",
    "file_sha256",
    "model_dir",
    "outputs_dir",
    "read_record",
    "write_entry",
]


class StoreError(RuntimeError):
    """A stored model exists but cannot be trusted; the message says why."""


class NotStoredError(LookupError):
    """No usable stored model for a training that was not allowed to run."""


class TrainingDivergedError(ArithmeticError):
    """The loss became NaN or infinite: the training stopped and nothing was stored."""


def outputs_dir() -> Path:
    """Where the book's programs write: ``$MNIST_OUTPUTS``, else an ``outputs`` folder.

    ``outputs`` is the project's folder when ``mnistlib`` runs from a checkout
    of the book, otherwise the working directory's.
    """
    if os.environ.get("MNIST_OUTPUTS"):
        return Path(os.environ["MNIST_OUTPUTS"])
    project = Path(__file__).resolve().parent.parent
    base = project if (project / "pyproject.toml").is_file() else Path.cwd()
    return base / "outputs"


def model_dir() -> Path:
    """Where trained models are kept: the folder ``models`` of :func:`outputs_dir`."""
    return outputs_dir() / "models"


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], Any]) -> Path:
    """Write ``path`` through ``write(temporary_path)``, then rename it into place in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}-", suffix="".join(path.suffixes)
    )
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_entry(save_model: Callable[[Path], Any], record: dict[str, Any], path: Path) -> None:
    """Save a model file with ``save_model``, then its JSON record with the file's checksum."""
    atomic_write(path, save_model)
    record = {**record, "model_sha256": file_sha256(path)}
    atomic_write(
        path.with_suffix(".json"), lambda p: p.write_text(json.dumps(record, indent=2) + "\n")
    )


def read_record(path: Path) -> dict[str, Any]:
    """The JSON record of the model file ``path``, checked against the file's bytes.

    Raises :class:`StoreError` when either file is missing, the record is not
    a JSON object, or the model file changed since the record was written.
    """
    record_path = path.with_suffix(".json")
    if not path.is_file() or not record_path.is_file():
        raise StoreError(f"{path}: model or record file missing")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError) as error:
        raise StoreError(f"{record_path}: unreadable record ({error})") from error
    if not isinstance(record, dict):
        raise StoreError(f"{record_path}: not a record (a JSON object)")
    if record.get("model_sha256") != file_sha256(path):
        raise StoreError(f"{path}: the file changed since it was saved (checksum differs)")
    return record
