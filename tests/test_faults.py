"""Fault injection: ``python -m mnistlib train`` killed (kill -9, SIGTERM) while it fits or
saves, and two trainings at once on an empty store.

Each run is a child process that runs the command line's ``train`` (a short MLP
training on MNIST) into its own model store; a patch in the child only makes it
linger at the chosen moment. Afterwards the store must hold only complete,
verified models (their records match their files) and no temporary files,
and a rerun must load what is there or train anew.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnistlib.data import find_mnist
from mnistlib.store import read_record

pytestmark = pytest.mark.skipif(find_mnist() is None, reason="no MNIST here; set MNIST_DATA")

TRAIN = ["train", "--model", "mlp", "--epochs", "2", "--batch-size", "500"]

CHILD = f"""
import sys, time
import keras
from mnistlib import cache
from mnistlib.cli import main

mode = sys.argv[1]
if mode == "slow-save":  # write the whole file, then linger before the rename
    save = keras.Model.save
    def slow_save(self, path, *args, **kwargs):
        save(self, path, *args, **kwargs)
        print("saving", file=sys.__stdout__, flush=True)
        time.sleep(60)
    keras.Model.save = slow_save
if mode == "slow-fit":  # linger after the first of two epochs
    end_epoch = cache.EpochTimer.on_epoch_end
    def slow_end(self, epoch, logs=None):
        end_epoch(self, epoch, logs)
        if epoch == 0:
            print("fitting", file=sys.__stdout__, flush=True)  # fit captures stdout
            time.sleep(60)
    cache.EpochTimer.on_epoch_end = slow_end
sys.exit(main({TRAIN!r}))
"""


def start(outputs: Path, mode: str = "normal") -> subprocess.Popen:
    env = {
        "MNIST_OUTPUTS": str(outputs),
        "MNIST_DATA": str(find_mnist().path),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PATH": os.environ.get("PATH", ""),
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(process: subprocess.Popen, line: str) -> None:
    """Read the child's output until ``line``; fail if it ends first."""
    deadline = time.monotonic() + 120
    for text in process.stdout:
        if text.strip() == line:
            return
        assert time.monotonic() < deadline, f"no {line!r} in time"
    pytest.fail(f"the child ended without printing {line!r}")


def run(outputs: Path) -> str:
    """A complete ``train``; what it said of the model: "trained" or "reused from the cache"."""
    process = start(outputs)
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    (said,) = [line for line in out.splitlines() if line.startswith(("trained:", "reused"))]
    return said.split(":")[0]


def stored_models(outputs: Path) -> list[Path]:
    """The complete models of the store (pathlib's glob also matches hidden temporaries)."""
    models = (outputs / "models").glob("*.keras")
    return [path for path in models if not path.name.startswith(".")]


def assert_only_verified_models(outputs: Path) -> None:
    files = sorted(path.name for path in (outputs / "models").iterdir())
    assert not [name for name in files if name.startswith(".")], f"temporaries left: {files}"
    for model in stored_models(outputs):
        read_record(model)  # raises unless the record matches the file


@pytest.mark.parametrize("moment", ["slow-fit", "slow-save"])
@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "SIGTERM"])
def test_a_training_killed_leaves_a_sound_store_and_a_rerun_trains(tmp_path, moment, kill):
    outputs = tmp_path / "outputs"
    process = start(outputs, moment)
    wait_for(process, "fitting" if moment == "slow-fit" else "saving")
    process.send_signal(kill)
    code = process.wait(timeout=60)
    if kill == signal.SIGTERM and moment == "slow-save":
        assert code == 128 + signal.SIGTERM  # atomic_write's clean exit
    else:
        assert code == -kill
    assert not stored_models(outputs)  # nothing half-done was kept
    assert run(outputs) == "trained"  # a kill -9's temporary is swept, then it trains
    assert_only_verified_models(outputs)


def test_two_trainings_at_once_on_an_empty_store(tmp_path):
    outputs = tmp_path / "outputs"
    first, second = start(outputs), start(outputs)
    for process in (first, second):
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out
    assert len(stored_models(outputs)) == 1
    assert_only_verified_models(outputs)
    assert run(outputs) == "reused from the cache"
