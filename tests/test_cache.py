"""Tests of cached_fit and the model store, on tiny data the tests make."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from mnistlib.cache import BATCHES_PER_CALL, cached_fit
from mnistlib.fitkey import fit_key
from mnistlib.store import StoreError, atomic_write, read_record


@pytest.fixture(autouse=True)
def outputs(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path / "outputs"))
    return tmp_path / "outputs"


@pytest.fixture
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (120, 8)).astype(np.float32)
    labels = (x[:, 0] > 0.5).astype(int) + 2 * (x[:, 1] > 0.5)
    return x, keras.utils.to_categorical(labels, 4)


def small_model(seed: int = 0, rate: float = 0.01, units: int = 16) -> keras.Model:
    """A small dense network, seeded and compiled as a chapter would write it."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(units, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(hidden))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def plateau_callbacks(epochs: int = 3) -> list[keras.callbacks.Callback]:
    return [
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1),
        keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=epochs, restore_best_weights=True
        ),
    ]


def fit(model: keras.Model, xy, **arguments):
    x, y = xy
    defaults = {"validation_data": (x[:30], y[:30]), "epochs": 3, "batch_size": 20}
    return cached_fit(model, x, y, **{**defaults, **arguments})


def test_a_miss_calls_fit_and_a_hit_restores_weights_and_history(xy, outputs, capsys):
    first = small_model()
    history = fit(first, xy, callbacks=plateau_callbacks(), verbose=2)
    log = capsys.readouterr().out
    assert isinstance(history, keras.callbacks.History) and not history.from_cache
    assert "Epoch 3/3" in log and "val_accuracy" in log
    assert history.path.parent == outputs / "models" and history.path.is_file()
    assert len(history.history["val_loss"]) == 3 == len(history.epoch_seconds)
    again = small_model()
    cached = fit(again, xy, callbacks=plateau_callbacks(), verbose=2)
    assert cached.from_cache and cached.path == history.path
    assert capsys.readouterr().out == log  # the page reads the same either way
    assert cached.history == history.history and cached.epoch == history.epoch
    assert cached.params == history.params
    for a, b in zip(again.get_weights(), first.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(again.optimizer.variables, first.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x, y = xy
    assert again.evaluate(x, y, verbose=0) == first.evaluate(x, y, verbose=0)


def test_verbose_zero_prints_nothing(xy, capsys):
    fit(small_model(), xy, verbose=0)
    fit(small_model(), xy, verbose=0)
    assert capsys.readouterr().out == ""


def test_the_same_training_gives_the_same_key_and_the_same_weights(xy):
    # Fresh builds in one session get other layer names (dense_2, ...): same key.
    first, second = small_model(), small_model()
    assert first.layers[1].name != second.layers[1].name
    assert fit_key(first, *xy, epochs=3) == fit_key(second, *xy, epochs=3)
    # Explicit defaults and omitted ones are the same fit.
    assert fit_key(first, *xy, epochs=3) == fit_key(first, *xy, epochs=3, shuffle=True)
    # The callbacks' running state and printing are not settings.
    assert fit_key(first, *xy, epochs=3, callbacks=plateau_callbacks()) == fit_key(
        first, *xy, epochs=3, verbose=0, callbacks=[*plateau_callbacks(), keras.callbacks.History()]
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda xy: (small_model(seed=1), {}),
        lambda xy: (small_model(rate=0.02), {}),
        lambda xy: (small_model(units=17), {}),
        lambda xy: (small_model(), {"epochs": 4}),
        lambda xy: (small_model(), {"batch_size": 30}),
        lambda xy: (small_model(), {"x": xy[0] + 1e-3}),
        lambda xy: (small_model(), {"y": xy[1][::-1].copy()}),
        lambda xy: (small_model(), {"validation_data": (xy[0][:31], xy[1][:31])}),
        lambda xy: (small_model(), {"callbacks": plateau_callbacks(5)}),
        lambda xy: (
            small_model(),
            {"callbacks": [keras.callbacks.LearningRateScheduler(lambda e: 0.01 / (e + 1))]},
        ),
    ],
    ids=[
        "seed",
        "learning rate",
        "layers",
        "epochs",
        "batch",
        "x",
        "y",
        "validation",
        "callback",
        "schedule",
    ],
)
def test_anything_that_changes_training_changes_the_key(xy, change):
    base = {"validation_data": (xy[0][:30], xy[1][:30]), "epochs": 3, "batch_size": 20}
    base_key = fit_key(small_model(), *xy, **base, callbacks=plateau_callbacks())
    model, changes = change(xy)
    arguments = {"x": xy[0], "y": xy[1], **base, "callbacks": plateau_callbacks(), **changes}
    assert fit_key(model, **arguments) != base_key


def test_schedules_are_keyed_by_the_rates_they_set(xy):
    model = small_model()
    by_two = [keras.callbacks.LearningRateScheduler(lambda epoch, rate: [1e-2, 5e-3, 1e-3][epoch])]
    by_one = [keras.callbacks.LearningRateScheduler(lambda epoch: [1e-2, 5e-3, 1e-3][epoch])]
    other = [keras.callbacks.LearningRateScheduler(lambda epoch: [1e-2, 5e-3, 2e-3][epoch])]
    key = fit_key(model, *xy, epochs=3, callbacks=by_two)
    assert key == fit_key(model, *xy, epochs=3, callbacks=by_one)
    assert key != fit_key(model, *xy, epochs=3, callbacks=other)


def test_what_cannot_be_keyed_is_refused(xy):
    model = small_model()

    class Mystery(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.rule = lambda epoch: epoch

    with pytest.raises(TypeError, match=r"Mystery\.rule"):
        fit_key(model, *xy, epochs=1, callbacks=[Mystery()])
    with pytest.raises(TypeError, match=r"call model\.fit directly"):
        fit_key(model, iter([xy]), epochs=1)
    uncompiled = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="compile"):
        fit_key(uncompiled, *xy, epochs=1)


def test_ten_batches_per_call_only_while_fitting_and_the_same_result(xy, monkeypatch, tmp_path):
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(self.model.steps_per_execution)

    ten = small_model()
    fit(ten, xy, callbacks=[Watch()], verbose=0)
    assert seen == [BATCHES_PER_CALL] and ten.steps_per_execution == 1
    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path / "empty"))  # trained again, not loaded
    monkeypatch.setattr("mnistlib.cache.BATCHES_PER_CALL", 1)
    one = small_model()
    assert not fit(one, xy, callbacks=[Watch()], verbose=0).from_cache
    assert seen == [BATCHES_PER_CALL, 1]
    # Ten batches per call or one: the same updates, so the same network.
    for a, b in zip(ten.get_weights(), one.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[:-100]),
        lambda path: path.with_suffix(".json").unlink(),
        lambda path: path.with_suffix(".json").write_text("{not json"),
        lambda path: path.with_suffix(".json").write_text("null"),
        lambda path: path.with_suffix(".json").write_text("[]"),
    ],
    ids=["truncated model", "no record", "not JSON", "null record", "list record"],
)
def test_a_damaged_entry_is_reported_and_trained_anew(xy, capsys, damage):
    history = fit(small_model(), xy, verbose=0)
    damage(history.path)
    again = fit(small_model(), xy, verbose=0)
    assert not again.from_cache
    assert "training again" in capsys.readouterr().err
    assert fit(small_model(), xy, verbose=0).from_cache  # sound again


@pytest.mark.parametrize(
    "record",
    [
        {"history": {}},
        {"history": None, "epoch": [], "params": {}, "log": ""},
    ],
    ids=["missing fields", "wrong types"],
)
def test_an_incomplete_record_is_retrained(xy, record, capsys):
    history = fit(small_model(), xy, verbose=0)
    stored = json.loads(history.path.with_suffix(".json").read_text())
    record = {**record, "model_sha256": stored["model_sha256"]}
    history.path.with_suffix(".json").write_text(json.dumps(record))
    assert not fit(small_model(), xy, verbose=0).from_cache
    assert "incomplete record" in capsys.readouterr().err


@pytest.mark.parametrize(
    "change",
    [
        {"history": {"accuracy": ["high"], "loss": [0.5]}},
        {"fit_seconds": "soon"},
        {"epoch_seconds": None},
        {"params": 3},
    ],
    ids=["non-numeric accuracy", "text seconds", "null epoch seconds", "number params"],
)
def test_a_complete_record_with_one_wrong_value_is_retrained(xy, change, capsys):
    """Issue 20, defect 4: a parseable but damaged record is reported, never a traceback."""
    history = fit(small_model(), xy, verbose=0)
    stored = json.loads(history.path.with_suffix(".json").read_text())
    history.path.with_suffix(".json").write_text(json.dumps({**stored, **change}))
    assert not fit(small_model(), xy, verbose=0).from_cache
    assert "incomplete record" in capsys.readouterr().err


def test_weights_of_another_model_are_refused(xy, capsys):
    history = fit(small_model(), xy, verbose=0)
    other = small_model(units=17)
    other_history = fit(other, xy, verbose=0)
    # Put the other model's file (and a matching record) where the first one was.
    history.path.write_bytes(other_history.path.read_bytes())
    record = json.loads(other_history.path.with_suffix(".json").read_text())
    history.path.with_suffix(".json").write_text(json.dumps(record))
    assert not fit(small_model(), xy, verbose=0).from_cache
    assert "weights that do not load" in capsys.readouterr().err


def test_atomic_write_leaves_no_temporary_on_failure(tmp_path):
    target = tmp_path / "model.keras"

    def fail(path: Path) -> None:
        path.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert list(tmp_path.iterdir()) == []
    atomic_write(target, lambda path: path.write_text("whole"))
    assert target.read_text() == "whole" and list(tmp_path.iterdir()) == [target]


def test_read_record_checks_the_model_files_checksum(xy):
    history = fit(small_model(), xy, verbose=0)
    assert read_record(history.path)["model"].startswith("functional")
    history.path.write_bytes(history.path.read_bytes() + b"\0")
    with pytest.raises(StoreError, match="checksum differs"):
        read_record(history.path)


def test_a_training_whose_loss_is_not_finite_stops_and_stores_nothing(xy, outputs):
    """Issue 20, defect 9: a learning rate of NaN trained a useless model and cached it."""
    from mnistlib.cache import TrainingDivergedError

    with pytest.raises(TrainingDivergedError, match="loss became nan"):
        fit(small_model(rate=float("nan")), xy, epochs=5)
    assert not list(outputs.glob("models/*"))


def test_stale_temporaries_of_the_store_are_swept_and_fresh_ones_kept(xy, outputs):
    """Issue 20, defect 7: a save killed mid-write left .mlp-*.keras files no run removed."""
    import os
    import subprocess
    import sys
    import time

    from mnistlib.store import STALE_SECONDS

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a writer that was killed: its process id is free
    store = outputs / "models"
    store.mkdir(parents=True)
    me = os.getpid()
    orphan = store / f".small-{gone.pid}-abcd1234.keras"
    stale, fresh = store / f".small-{me}-efgh5678.keras", store / f".small-{me}-ijkl9012.keras"
    kept_aside = store / ".notes-about-this-folder.txt"  # not one of ours
    for path in (orphan, stale, fresh, kept_aside):
        path.write_bytes(b"half a model")
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(kept_aside, (old, old))
    fit(small_model(), xy, verbose=0)
    assert not orphan.exists() and not stale.exists()
    assert fresh.exists() and kept_aside.exists()


def test_sigterm_during_a_save_leaves_no_temporary(tmp_path):
    """Issue 20, defect 7: SIGTERM while writing removes the half-written file."""
    import signal
    import subprocess
    import sys
    import time

    program = (
        "import time\n"
        "from mnistlib.store import atomic_write\n"
        "def slow(path):\n"
        "    path.write_bytes(b'half')\n"
        "    time.sleep(60)\n"
        f"atomic_write({str(tmp_path / 'model.keras')!r}, slow)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", program])
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob(".model-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".model-*")), "the temporary never appeared"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []


def test_an_outputs_folder_that_cannot_be_written_is_refused_before_training(
    xy, outputs, monkeypatch
):
    """Issue 20, defect 6: MNIST_OUTPUTS naming a file was found only after training."""
    from mnistlib.store import StoreError

    a_file = outputs.parent / "not-a-folder"
    a_file.write_text("x")
    monkeypatch.setenv("MNIST_OUTPUTS", str(a_file))
    model = small_model()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(StoreError, match="cannot write the trained model") as error:
        fit(model, xy, verbose=0)
    assert str(a_file) in str(error.value) and "MNIST_OUTPUTS" in str(error.value)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # nothing was trained


def test_a_save_that_fails_keeps_the_trained_model_where_the_message_says(xy, outputs, monkeypatch):
    """Issue 20, defect 6: a full disk at the last step lost the whole training."""
    import errno
    import re

    from mnistlib.store import StoreError

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("mnistlib.cache.write_entry", full_disk)
    model = small_model()
    with pytest.raises(StoreError, match="No space left on device") as error:
        fit(model, xy, verbose=0)
    (kept,) = re.findall(r"kept it in (\S+\.keras)", str(error.value))
    restored = keras.models.load_model(kept)
    for a, b in zip(model.get_weights(), restored.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
