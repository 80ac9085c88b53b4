"""Tests of the command line."""

from __future__ import annotations

import subprocess
import sys

from conftest import IDX_STEMS

from mnistlib.cli import main


def test_data_command_summarises_a_folder(idx_folder, capsys):
    assert main(["data", str(idx_folder), "--no-verify"]) == 0
    out = capsys.readouterr().out
    assert "(30, 28, 28)" in out and "(20, 28, 28)" in out
    assert "per digit (training): 3 3 3 3 3 3 3 3 3 3" in out


def test_data_command_reports_bad_file(idx_folder, capsys):
    path = idx_folder / f"{IDX_STEMS['train_labels']}.gz"
    path.write_bytes(b"")
    assert main(["data", str(idx_folder), "--no-verify"]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "empty" in err


def test_module_runs_with_help():
    result = subprocess.run(
        [sys.executable, "-m", "mnistlib", "data", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "MNIST_DATA" in result.stdout


def test_every_subcommand_has_help():
    for command in ("train", "evaluate", "predict"):
        result = subprocess.run(
            [sys.executable, "-m", "mnistlib", command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "--model" in result.stdout
