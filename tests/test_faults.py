"""Fault injection: a training killed (kill -9, SIGTERM) while it fits or saves, and two at once.

Each run is a child process that trains a tiny network through ``cached_fit``
into its own model store. Afterwards the store must hold only complete,
verified models (their records match their files) and no temporary files,
and a rerun must load what is there or train anew.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnistlib.store import read_record

TRAINING = """
import sys, time
import keras, numpy as np
from mnistlib.cache import cached_fit

mode = sys.argv[1]
if mode == "slow-save":  # write the whole file, then linger before the rename
    save = keras.Model.save
    def slow_save(self, path, *args, **kwargs):
        save(self, path, *args, **kwargs)
        print("saving", flush=True)
        time.sleep(60)
    keras.Model.save = slow_save

class Linger(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if mode == "slow-fit" and epoch == 0:
            print("fitting", file=sys.__stdout__, flush=True)  # fit captures stdout
            time.sleep(60)

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).random((200, 8)).astype("float32")
y = keras.utils.to_categorical((x[:, 0] > 0.5).astype(int), 2)
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="categorical_crossentropy")
history = cached_fit(model, x, y, epochs=3, batch_size=20, callbacks=[Linger()], verbose=0)
print("from_cache", history.from_cache, flush=True)
"""


def start(outputs: Path, mode: str = "normal") -> subprocess.Popen:
    env = {"MNIST_OUTPUTS": str(outputs), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""}
    return subprocess.Popen(
        [sys.executable, "-c", TRAINING, mode], env=env, stdout=subprocess.PIPE, text=True
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
    """A complete training run; what it said about the cache."""
    process = start(outputs)
    out, _ = process.communicate(timeout=180)
    assert process.returncode == 0, out
    return out.strip().splitlines()[-1]


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
    assert run(outputs) == "from_cache False"  # a kill -9's temporary is swept, then it trains
    assert_only_verified_models(outputs)


def test_two_trainings_at_once_on_an_empty_store(tmp_path):
    outputs = tmp_path / "outputs"
    first, second = start(outputs), start(outputs)
    for process in (first, second):
        out, _ = process.communicate(timeout=180)
        assert process.returncode == 0, out
    assert len(stored_models(outputs)) == 1
    assert_only_verified_models(outputs)
    assert run(outputs) == "from_cache True"
