"""Tests of load_or_train, the typed record it returns, and the chapters' configurations."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import keras
import numpy as np
import pytest

from mnistlib import configs, training
from mnistlib.configs import TrainConfig, book_config, book_models, warmup_cosine
from mnistlib.models import MODEL_BUILDERS
from mnistlib.training import Prepared, best_epoch, book_callbacks, load_or_train


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
    return Prepared(x_fit, y_fit, x_val, y_val, x_test, y_test)


CONFIG = TrainConfig(model="mlp", epochs=3, batch_size=50)


def test_load_or_train_learns_and_describes_the_run(tiny, outputs, capsys):
    trained = load_or_train(CONFIG, tiny)
    assert not trained.from_cache and trained.test_accuracy > 0.9
    assert trained.path.parent == outputs / "models" and trained.path.is_file()
    assert trained.config == CONFIG and trained.parameters == 623_290
    assert len(trained.history["val_accuracy"]) == 3 == len(trained.epoch_seconds)
    assert trained.best_epoch == best_epoch(trained.history)
    assert trained.refit is None and trained.validation_run is None
    assert trained.train_seconds > 0
    assert capsys.readouterr().out.count("Epoch ") == 3  # Keras's own line per epoch
    assert not list(trained.path.parent.glob(".*"))  # no temporary file left behind


def test_the_cache_returns_the_same_model_and_prints_the_same_log(tiny, capsys):
    trained = load_or_train(CONFIG, tiny)
    log_when_trained = capsys.readouterr().out
    cached = load_or_train(CONFIG, tiny)
    assert cached.from_cache and capsys.readouterr().out == log_when_trained
    for a, b in zip(trained.model.get_weights(), cached.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert cached.test_accuracy == trained.test_accuracy
    assert cached.epoch_seconds == trained.epoch_seconds


def test_training_is_repeatable(tiny, monkeypatch, tmp_path):
    first = load_or_train(CONFIG, tiny, verbose=False).model.get_weights()
    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path / "elsewhere"))
    again = load_or_train(CONFIG, tiny, verbose=False)
    assert not again.from_cache
    for a, b in zip(first, again.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "change",
    [{"epochs": 2}, {"batch_size": 25}, {"learning_rate": 2e-3}, {"seed": 1}, {"augment": True}],
)
def test_a_changed_configuration_trains_anew(tiny, change):
    first = load_or_train(CONFIG, tiny, verbose=False)
    other = load_or_train(dataclasses.replace(CONFIG, **change), tiny, verbose=False)
    assert not other.from_cache and other.path != first.path


def test_changed_data_trains_anew(tiny):
    first = load_or_train(CONFIG, tiny, verbose=False)
    x_fit = tiny.x_fit.copy()
    x_fit[0, 0, 0, 0] += 0.01  # one pixel of one image
    other = load_or_train(CONFIG, dataclasses.replace(tiny, x_fit=x_fit), verbose=False)
    assert not other.from_cache and other.path != first.path


def test_the_best_epochs_weights_are_kept(tiny):
    assert best_epoch({"val_accuracy": [0.90, 0.95, 0.97, 0.97, 0.96]}) == 3  # first of equal
    trained = load_or_train(
        TrainConfig("mlp", epochs=4, batch_size=50, learning_rate=0.05), tiny, verbose=False
    )
    val_loss, val_accuracy = trained.model.evaluate(
        tiny.x_val, keras.utils.to_categorical(tiny.y_val, 10), verbose=0
    )
    best = trained.best_epoch
    assert val_accuracy == pytest.approx(trained.history["val_accuracy"][best - 1])
    assert val_loss == pytest.approx(trained.history["val_loss"][best - 1], rel=1e-4)


def test_book_callbacks_are_the_chapters():
    plateau, keep_best = book_callbacks(CONFIG)
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    assert (plateau.monitor, plateau.factor, plateau.patience, plateau.min_lr) == (
        "val_loss",
        0.5,
        2,
        1e-5,
    )
    assert isinstance(keep_best, keras.callbacks.EarlyStopping)
    assert keep_best.restore_best_weights and keep_best.patience == CONFIG.epochs
    cosine = dataclasses.replace(CONFIG, schedule="cosine")
    assert [type(c) for c in book_callbacks(cosine)] == [keras.callbacks.EarlyStopping]


def test_comparison_table(tiny):
    from mnistlib.evaluation import comparison_table

    trained = load_or_train(CONFIG, tiny, verbose=False)
    refit = load_or_train(dataclasses.replace(CONFIG, refit=True), tiny, verbose=False)
    table = comparison_table({"first": trained, "refit": refit})
    row = table.loc["first"]
    assert row["test accuracy (%)"] == round(100 * trained.test_accuracy, 2)
    assert row["test accuracy (%)"] + row["test error (%)"] == pytest.approx(100)
    assert row["weights"] == "623,290" and row["epochs"] == 3
    assert list(table["training images"]) == ["200", "250"]
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
    trained = load_or_train(config, tiny, verbose=False)
    assert trained.config.schedule == "cosine"
    assert trained.model.get_layer("augmentation") is not None
    assert trained.best_epoch is not None  # it still kept its best epoch on validation


def test_unknown_schedule():
    with pytest.raises(ValueError, match="unknown schedule 'steps'"):
        TrainConfig("mlp", schedule="steps")


def test_the_temperature_is_fitted_on_the_validation_split_only(tiny):
    """Issue 21: the library keeps a temperature with a held-out model, none with a refit."""
    from mnistlib.calibration import fit_temperature

    trained = load_or_train(CONFIG, tiny, verbose=False)
    on_validation = trained.model.predict(tiny.x_val, verbose=0)
    assert trained.temperature == pytest.approx(fit_temperature(on_validation, tiny.y_val))
    refit = load_or_train(dataclasses.replace(CONFIG, refit=True), tiny, verbose=False)
    assert refit.temperature is None  # no held-out images left to fit on


def test_refit_trains_on_all_images_with_the_validation_runs_rates(tiny, monkeypatch, capsys):
    config = TrainConfig(model="mlp", epochs=4, batch_size=50, refit=True)
    seen: list[float] = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    fit = keras.Model.fit

    def fit_with_spy(self, *args, callbacks=(), **kwargs):
        return fit(self, *args, callbacks=[*callbacks, Spy()], **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit_with_spy)
    refit = load_or_train(config, tiny)
    run = refit.validation_run
    assert run is not None and run.path != refit.path and not run.config.refit
    assert refit.refit.epochs == run.best_epoch == refit.best_epoch
    assert refit.refit.images == len(tiny.x_fit) + len(tiny.x_val) == 250
    rates = run.history["learning_rate"][: run.best_epoch]
    np.testing.assert_allclose(seen[len(run.history["loss"]) :], rates, rtol=1e-6)
    assert sorted(refit.history) == ["accuracy", "learning_rate", "loss"]  # its own curves
    assert refit.train_seconds > run.train_seconds
    assert refit.test_accuracy > 0.9
    log = capsys.readouterr().out
    cached = load_or_train(config, tiny)
    assert cached.from_cache and cached.validation_run.from_cache
    assert capsys.readouterr().out == log
    for a, b in zip(cached.model.get_weights(), refit.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_cosine_refit_needs_no_validation_run(tiny, monkeypatch):
    config = TrainConfig(model="mlp", epochs=3, batch_size=50, schedule="cosine", refit=True)
    stretched_over: list[int] = []
    learning_rate_for = training.learning_rate_for

    def spy(config, examples):
        stretched_over.append(examples)
        return learning_rate_for(config, examples)

    monkeypatch.setattr(training, "learning_rate_for", spy)
    refit = load_or_train(config, tiny, verbose=False)
    assert stretched_over == [250]  # the schedule spans all 250 images, and no other run trained
    assert refit.validation_run is None and refit.best_epoch is None
    assert refit.refit == training.Refit(images=250, epochs=3, seconds=refit.train_seconds)
    assert int(refit.model.optimizer.iterations) == 3 * 5
    assert sorted(refit.history) == ["accuracy", "loss"]
    assert refit.test_accuracy > 0.9


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


def test_every_model_has_a_builder_and_a_final_configuration():
    assert set(book_models()) == set(MODEL_BUILDERS)
    for name in book_models():
        assert book_config(name).model == name
    assert book_config("wide-cnn") == configs.WIDE_SEARCH[configs.WIDE_CHOSEN_PEAK]
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        book_config("resnet")
