"""The first check of every file a user gives: it names what the path really is."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mnistlib.files import require_nonempty_file


class Refused(Exception):
    pass


def refuse(path) -> str:
    with pytest.raises(Refused) as error:
        require_nonempty_file(path, Refused, Refused, kind="model file")
    assert str(path) in str(error.value)
    return str(error.value)


def test_a_missing_file(tmp_path):
    assert refuse(tmp_path / "nothing.keras").endswith("no such model file")


def test_a_folder(tmp_path):
    assert "a folder, not a model file" in refuse(tmp_path)


def test_a_pipe_is_named_and_never_opened(tmp_path):
    """Issue 20, defect 11: a FIFO was "no such file" (and opening it would block)."""
    fifo = tmp_path / "digits.png"
    os.mkfifo(fifo)
    assert "a pipe (FIFO), not a model file" in refuse(fifo)


def test_a_symbolic_link_loop(tmp_path):
    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    assert "a symbolic link that loops" in refuse(tmp_path / "a.png")


def test_a_device():
    assert "a device, not a model file" in refuse(Path("/dev/zero"))


def test_an_unreadable_file(tmp_path, monkeypatch):
    """As root every file is readable, so the refusal of the system is simulated."""
    secret = tmp_path / "secret.keras"
    secret.write_bytes(b"PK")

    def permission_denied(path, flags, *args):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("mnistlib.files.os.open", permission_denied)
    message = refuse(secret)
    assert "cannot be read (Permission denied)" in message and "damaged" not in message


def test_an_empty_file(tmp_path):
    empty = tmp_path / "empty.keras"
    empty.touch()
    assert refuse(empty).endswith("the model file is empty")


def test_a_good_file_is_returned_as_a_path(tmp_path):
    good = tmp_path / "model.keras"
    good.write_bytes(b"PK")
    assert require_nonempty_file(str(good), Refused, Refused) == good
    assert stat.S_ISREG(good.stat().st_mode)
