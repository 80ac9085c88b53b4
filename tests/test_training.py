"""Tests of training and the model cache, on tiny data the tests make."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from mnistlib import training
from mnistlib.models import ARCHITECTURE_REVISIONS, build_model
from mnistlib.training import (
    BATCHES_PER_CALL,
    CachedModelError,
    Prepared,
    TrainConfig,
    batches_per_call,
    best_epoch,
    cache_path,
    fit_model,
    format_epoch,
    load_cached,
    load_or_train,
    model_dir,
    refit_on_all,
    save_model,
    train,
    warmup_cosine,
)


@pytest.fixture(autouse=True)
def outputs(monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path / "outputs"))
    return tmp_path / "outputs"


@pytest.fixture
def tiny() -> Prepared:
    """Digits that are easy to tell apart: a bright square at a place per class."""
    rng = np.random.default_rng(0)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 10
        images = rng.uniform(0, 0.1, (n, 28, 28, 1)).astype(np.float32)
        for i, label in enumerate(labels):
            images[i, 2 * label : 2 * label + 4, 4:24, 0] = 1.0
        return images, labels.astype(np.uint8)

    x_fit, y_fit = make(200)
    x_val, y_val = make(50)
    x_test, y_test = make(50)
    return Prepared(x_fit, y_fit, x_val, y_val, x_test, y_test, checksum="tiny")


CONFIG = TrainConfig(model="mlp", epochs=3, batch_size=50)


def test_train_learns_saves_and_describes(tiny, outputs, capsys):
    trained = train(CONFIG, tiny)
    assert trained.test_accuracy > 0.9
    assert trained.path.parent == outputs / "models" == model_dir()
    assert trained.path.is_file() and trained.path.with_suffix(".json").is_file()
    meta = json.loads(trained.path.with_suffix(".json").read_text())
    assert meta["config"]["model"] == "mlp" and meta["parameters"] == 623_290
    assert len(meta["history"]["val_accuracy"]) == 3 and len(meta["epoch_seconds"]) == 3
    assert meta["data_checksum"] == "tiny" and "keras" in meta["versions"]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert not list(trained.path.parent.glob(".*"))  # no temporary file left behind


def test_training_is_repeatable(tiny):
    first = train(CONFIG, tiny, verbose=False).model.get_weights()
    second = train(CONFIG, tiny, verbose=False).model.get_weights()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_cache_returns_the_same_model_and_prints_the_same_log(tiny, capsys):
    trained = load_or_train(CONFIG, tiny)
    log_when_trained = capsys.readouterr().out
    cached = load_or_train(CONFIG, tiny)
    assert not trained.from_cache and cached.from_cache
    assert capsys.readouterr().out == log_when_trained
    for a, b in zip(trained.model.get_weights(), cached.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert cached.test_accuracy == trained.test_accuracy


def test_changed_configuration_trains_anew(tiny):
    first = load_or_train(CONFIG, tiny, verbose=False)
    other = load_or_train(TrainConfig(model="mlp", epochs=2, batch_size=50), tiny, verbose=False)
    assert not other.from_cache and other.path != first.path


def test_changed_data_trains_anew(tiny):
    first = load_or_train(CONFIG, tiny, verbose=False)
    other = dataclasses.replace(tiny, checksum="other data")
    assert load_or_train(CONFIG, other, verbose=False).path != first.path


def test_corrupt_model_is_reported_and_retrained(tiny, capsys):
    first = load_or_train(CONFIG, tiny, verbose=False)
    first.path.write_bytes(first.path.read_bytes()[:1000])
    again = load_or_train(CONFIG, tiny, verbose=False)
    out = capsys.readouterr().out
    assert "Cached model not used" in out and str(first.path) in out
    assert not again.from_cache
    assert load_or_train(CONFIG, tiny, verbose=False).from_cache  # sound again


def test_missing_metadata_is_retrained(tiny, capsys):
    first = load_or_train(CONFIG, tiny, verbose=False)
    first.path.with_suffix(".json").unlink()
    assert not load_or_train(CONFIG, tiny, verbose=False).from_cache
    assert "missing" in capsys.readouterr().out


def test_garbage_that_matches_its_checksum_is_refused(tmp_path):
    path = tmp_path / "fake.keras"
    metadata = {"history": {}}
    path.write_bytes(b"not a zip at all")
    metadata["model_sha256"] = __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(metadata))
    with pytest.raises(CachedModelError, match="not a loadable Keras model"):
        load_cached(path)


def test_model_that_would_run_code_is_refused(tmp_path):
    inputs = keras.Input(shape=(2,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = tmp_path / "unsafe.keras"
    save_model(keras.Model(inputs, outputs), {"history": {}}, path)
    with pytest.raises(CachedModelError, match="safe_mode"):
        load_cached(path)


def test_format_epoch():
    logs = {"loss": 0.25, "accuracy": 0.9, "val_loss": 0.3, "val_accuracy": 0.875}
    assert format_epoch(2, 10, logs, 4.04) == (
        "epoch  3/10  loss 0.2500  accuracy 0.9000  val_loss 0.3000  val_accuracy 0.8750  (4.0 s)"
    )
    logs["learning_rate"] = 0.00025
    assert format_epoch(2, 10, logs, 4.04).endswith("val_accuracy 0.8750  lr 0.00025  (4.0 s)")


def test_best_epoch_weights_are_kept(tiny):
    history = {"val_accuracy": [0.90, 0.95, 0.97, 0.97, 0.96]}
    assert best_epoch(history) == 3  # the first of equal best
    trained = train(TrainConfig("mlp", epochs=4, batch_size=50, learning_rate=0.05), tiny)
    best = trained.metadata["best_epoch"]
    assert best == best_epoch(trained.history)
    val_loss, val_accuracy = trained.model.evaluate(
        tiny.x_val, keras.utils.to_categorical(tiny.y_val, 10), verbose=0
    )
    assert val_accuracy == pytest.approx(trained.history["val_accuracy"][best - 1])
    assert val_loss == pytest.approx(trained.history["val_loss"][best - 1], rel=1e-4)


def test_comparison_table(tiny):
    from mnistlib.evaluation import comparison_table

    trained = train(CONFIG, tiny, verbose=False)
    table = comparison_table({"first": trained, "second": trained})
    assert list(table.index) == ["first", "second"]
    row = table.loc["first"]
    assert row["test accuracy (%)"] == round(100 * trained.test_accuracy, 2)
    assert row["test accuracy (%)"] + row["test error (%)"] == pytest.approx(100)
    assert row["weights"] == 623_290 and row["epochs"] == 3
    assert row["training time"].endswith(" s")


def test_warmup_cosine_climbs_then_falls_to_zero():
    schedule = warmup_cosine(0.01, steps=100, warmup_fraction=0.2)
    rates = [float(schedule(step)) for step in range(101)]
    assert rates[0] == pytest.approx(0.001)
    assert max(rates) == pytest.approx(0.01) and int(np.argmax(rates)) == 20
    assert rates[100] == pytest.approx(0.0, abs=1e-9)
    assert all(a >= b for a, b in itertools.pairwise(rates[20:]))


def test_cosine_schedule_and_augmentation_train(tiny):
    config = dataclasses.replace(CONFIG, schedule="cosine", augment=True, epochs=2)
    trained = train(config, tiny, verbose=False)
    assert trained.metadata["config"]["schedule"] == "cosine"
    assert "learning_rate" not in trained.history  # no plateau callback with a schedule
    assert config.key("tiny") != CONFIG.key("tiny")


def test_unknown_schedule():
    with pytest.raises(ValueError, match="unknown schedule 'steps'"):
        TrainConfig("mlp", schedule="steps")


def test_refit_trains_on_all_images_with_the_validation_runs_rates(tiny, capsys):
    config = TrainConfig(model="mlp", epochs=4, batch_size=50, refit=True)
    run = load_or_train(dataclasses.replace(config, refit=False), tiny, verbose=False)
    refit = load_or_train(config, tiny)
    assert refit.path != run.path and refit.metadata["config"]["refit"]
    assert refit.metadata["refit"]["epochs"] == run.metadata["best_epoch"]
    assert refit.metadata["refit"]["images"] == len(tiny.x_fit) + len(tiny.x_val) == 250
    assert refit.metadata["history"] == run.history  # the curves are the validation run's
    assert refit.test_accuracy > 0.9
    assert refit.metadata["train_seconds"] > run.metadata["train_seconds"]
    # A different model from the validation run's, and cached like any other.
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(refit.model.get_weights(), run.model.get_weights(), strict=True)
    )
    log = capsys.readouterr().out
    assert log.splitlines()[-1].startswith("refit on all 250 training images: ")
    cached = load_or_train(config, tiny)
    assert cached.from_cache and capsys.readouterr().out == log
    for a, b in zip(cached.model.get_weights(), refit.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_refit_replays_the_plateau_rates(tiny, monkeypatch):
    config = TrainConfig(model="mlp", epochs=3, batch_size=50)
    run = load_or_train(config, tiny, verbose=False)
    run.metadata["history"]["learning_rate"] = [1e-3, 5e-4, 2.5e-4]
    run.metadata["best_epoch"] = 3
    seen: list[float] = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    fit = keras.Model.fit

    def fit_with_spy(self, *args, callbacks=(), **kwargs):
        return fit(self, *args, callbacks=[*callbacks, Spy()], **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit_with_spy)
    refit_on_all(config, tiny, run, verbose=False)
    np.testing.assert_allclose(seen, [1e-3, 5e-4, 2.5e-4], rtol=1e-6)


def test_cosine_refit_needs_no_validation_run(tiny, monkeypatch, capsys):
    config = TrainConfig(model="mlp", epochs=3, batch_size=50, schedule="cosine", refit=True)
    stretched_over: list[int] = []
    learning_rate_for = training.learning_rate_for

    def spy(config, examples):
        stretched_over.append(examples)
        return learning_rate_for(config, examples)

    monkeypatch.setattr(training, "learning_rate_for", spy)
    refit = load_or_train(config, tiny)
    assert stretched_over == [250]  # the schedule spans all 250 images, and no other run trained
    assert not cache_path(dataclasses.replace(config, refit=False), tiny).exists()
    assert refit.metadata["refit"] == {
        "epochs": 3,
        "images": 250,
        "seconds": refit.metadata["train_seconds"],
    }
    assert int(refit.model.optimizer.iterations) == 3 * 5
    assert sorted(refit.history) == ["accuracy", "loss"]  # its own training curves
    assert refit.test_accuracy > 0.9
    log = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in log[:3]] == [["epoch", f"{n}/3"] for n in (1, 2, 3)]
    assert log[3].startswith("refit on all 250 training images: 3 epochs")
    cached = load_or_train(config, tiny)
    assert cached.from_cache and capsys.readouterr().out.splitlines() == log


def test_plateau_refit_needs_its_validation_run(tiny):
    config = TrainConfig(model="mlp", epochs=2, batch_size=50, refit=True)
    with pytest.raises(ValueError, match="validation run"):
        refit_on_all(config, tiny, verbose=False)
    with pytest.raises(ValueError, match="load_or_train"):
        train(config, tiny)


def test_refit_option_leaves_other_keys_unchanged():
    # The key of a run without the option is the one it had before the option existed.
    assert CONFIG.key("data") == "80529027420d"
    assert dataclasses.replace(CONFIG, refit=True).key("data") != CONFIG.key("data")


def test_changed_layers_change_the_cache_key(monkeypatch):
    # A model cached from a builder's old layers must not be loaded for its new ones.
    config = dataclasses.replace(CONFIG, model="wide-cnn")
    before = config.key("data")
    monkeypatch.setitem(ARCHITECTURE_REVISIONS, "wide-cnn", ARCHITECTURE_REVISIONS["wide-cnn"] + 1)
    assert config.key("data") != before
    assert CONFIG.key("data") == "80529027420d"  # models whose layers never changed keep theirs


def test_every_seed_holds_out_the_same_validation_split(tiny, monkeypatch):
    # Seeds are compared (and ensembled) on the same validation digits.
    asked = []

    def fake_prepare_data(validation_fraction=0.1, seed=0):
        asked.append((validation_fraction, seed))
        return tiny

    monkeypatch.setattr("mnistlib.training.prepare_data", fake_prepare_data)
    for seed in (0, 1):
        load_or_train(dataclasses.replace(CONFIG, epochs=1, seed=seed), verbose=False)
    assert asked == [(0.1, 0), (0.1, 0)]


def test_batches_per_call_only_while_fitting_and_same_result(tiny, monkeypatch):
    seen = []

    class Watch(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(self.model.steps_per_execution)

    model = build_model("mlp")
    fit_model(model, tiny, CONFIG, [Watch()])
    assert seen == [BATCHES_PER_CALL] and model.steps_per_execution == 1
    # Ten batches per call or one: the same updates, so the same network.
    ten = train(CONFIG, tiny, verbose=False)
    monkeypatch.setattr("mnistlib.training.batches_per_call", lambda m: batches_per_call(m, 1))
    one = train(CONFIG, tiny, verbose=False)
    assert ten.history == one.history
    for a, b in zip(ten.model.get_weights(), one.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
