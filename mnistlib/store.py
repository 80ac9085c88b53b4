"""The model store: where trained models are kept, and how they are written and read.

Each entry is a native ``.keras`` file with a JSON record beside it. Both are
written atomically (a temporary file, then one rename), so an interrupted run
never leaves half a file behind; the record holds the model file's SHA-256,
so a file changed or damaged since is noticed and never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "NotStoredError",
    "StoreError",
    "TrainingDivergedError",
    "atomic_write",
    "file_sha256",
    "keep_elsewhere",
    "model_dir",
    "new_file_mode",
    "outputs_dir",
    "read_record",
    "require_writable_store",
    "sweep_stale_temporaries",
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


#: A temporary file of the store older than this is left from a killed save.
STALE_SECONDS = 3600


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], Any]) -> Path:
    """Write ``path`` through ``write(temporary_path)``, then rename it into place in one step.

    The file gets :func:`new_file_mode`'s permissions. The temporary file,
    ``.NAME-PID-XXXXXXXX.SUFFIX`` beside ``path``, is removed if the write
    fails, and also on SIGTERM (the process then exits with 143). Only kill -9
    can leave it; :func:`sweep_stale_temporaries` removes it on a later run.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.stem}-{os.getpid()}-", suffix="".join(path.suffixes)
    )
    os.close(handle)
    try:
        with _sigterm_exits():
            write(Path(temporary))
            os.chmod(temporary, new_file_mode())  # mkstemp's 0600 would hide it from others
            os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def new_file_mode() -> int:
    """The permissions of any new file here: ``0o666`` less the process's umask.

    Models, records and exports alike, as a text editor would save them.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """Turn SIGTERM into ``SystemExit(143)``, so that ``finally`` blocks run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_cleanly(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_cleanly)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def sweep_stale_temporaries(folder: Path, older_than: float = STALE_SECONDS) -> list[Path]:
    """Remove temporaries of :func:`atomic_write` left in ``folder`` by a killed save.

    A temporary's name holds the process id of its writer
    (``.NAME-PID-XXXXXXXX.SUFFIX``). It goes when that process is gone, or
    when it is untouched for ``older_than`` seconds; a save in progress in a
    live process keeps its file. Returns the files removed.
    """
    removed = []
    now = time.time()
    for candidate in folder.glob(".*-*"):
        match = TEMPORARY_NAME.match(candidate.name)
        if not match:
            continue
        with contextlib.suppress(OSError):
            orphan = not _process_alive(int(match["pid"]))
            if orphan or now - candidate.stat().st_mtime > older_than:
                candidate.unlink()
                removed.append(candidate)
    return removed


#: The name ``tempfile.mkstemp`` gives an :func:`atomic_write` temporary.
TEMPORARY_NAME = re.compile(r"^\.(?P<stem>.+)-(?P<pid>\d+)-[a-z0-9_]{8}(?:\.\w+)+$")


def _process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0 checks, sends nothing)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def require_writable_store() -> Path:
    """The model store, created if needed; ``StoreError`` if it cannot take a file.

    Checked before training, so that a training is never lost at its last step.
    """
    folder = model_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise StoreError(
            f"{folder}: cannot write the trained model there ({error.strerror or error}); "
            "set MNIST_OUTPUTS to a folder you can write"
        ) from error
    return folder


def keep_elsewhere(save_model: Callable[[Path], Any], name: str) -> Path | None:
    """Save a model that the store could not take into the system's temporary folder."""
    try:
        folder = Path(tempfile.mkdtemp(prefix="mnist-book-rescued-"))
        path = folder / name
        save_model(path)
    except Exception:  # the last resort failed too: say only what failed first
        return None
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
