"""Train the book's models by name, as the chapters train them, through the cache.

:func:`load_or_train` repeats a chapter's training from its
:class:`~mnistlib.configs.TrainConfig`: it seeds, builds and compiles the
model, and calls :func:`~mnistlib.cache.cached_fit` with the same arguments
the chapter writes on its page, so that it finds the model the chapter
trained (or trains it, the same way). The result is a
:class:`TrainedModel`, a typed record of the model and its training.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np

from mnistlib.cache import CachedHistory, cached_fit
from mnistlib.calibration import fit_temperature
from mnistlib.configs import (
    BOOK_CONFIGS,
    LADDER_CONFIGS,
    WIDE_CHOSEN_PEAK,
    WIDE_SEARCH,
    TrainConfig,
    book_config,
    learning_rate_for,
    warmup_cosine,
)
from mnistlib.data import (
    add_channel_axis,
    load_mnist,
    one_hot,
    scale_pixels,
    split_validation,
)
from mnistlib.models import build_model

# The configurations are also importable from here, as the later chapters and the
# command line have always imported them (mnistlib.configs documents them).
__all__ = [
    "BOOK_CONFIGS",
    "LADDER_CONFIGS",
    "WIDE_CHOSEN_PEAK",
    "WIDE_SEARCH",
    "Prepared",
    "Refit",
    "TrainConfig",
    "TrainedModel",
    "best_epoch",
    "book_callbacks",
    "book_config",
    "learning_rate_for",
    "load_or_train",
    "prepare_data",
    "warmup_cosine",
]


def best_epoch(history: dict[str, list[float]]) -> int:
    """The epoch (counted from 1) with the highest validation accuracy; the first on ties."""
    return int(np.argmax(history["val_accuracy"])) + 1


@dataclass
class Prepared:
    """MNIST ready for training: scaled, with a channel axis, split for validation."""

    x_fit: np.ndarray
    y_fit: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@functools.lru_cache(maxsize=2)
def prepare_data(validation_fraction: float = 0.1, seed: int = 0) -> Prepared:
    """Load MNIST, scale it to [0, 1], add the channel axis and split off validation.

    The result is kept for the rest of the session (chapters ask for it often);
    its arrays are read-only so that no caller can change them for the others.
    """
    (x_train, y_train), (x_test, y_test) = load_mnist()
    images = add_channel_axis(scale_pixels(x_train))
    (x_fit, y_fit), (x_val, y_val) = split_validation(images, y_train, validation_fraction, seed)
    arrays = [x_fit, y_fit, x_val, y_val, add_channel_axis(scale_pixels(x_test)), y_test]
    for array in arrays:
        array.flags.writeable = False
    return Prepared(*arrays)


@dataclass(frozen=True)
class Refit:
    """A second fit on all the training images, once a run has said how long to train."""

    images: int
    epochs: int
    seconds: float


@dataclass
class TrainedModel:
    """A trained model and what we know of its training.

    ``best_epoch`` is the epoch whose weights a run with a validation split
    kept (``None`` for a cosine refit, which holds out nothing); ``refit`` and
    ``validation_run`` are set for a model refitted on all the training images
    (``validation_run`` only when a plateau run chose its epochs and rates).
    """

    model: keras.Model
    config: TrainConfig
    history: dict[str, list[float]]
    path: Path
    from_cache: bool
    parameters: int
    epoch_seconds: list[float]
    train_seconds: float  # the whole run, a validation run before a refit included
    best_epoch: int | None
    data: Prepared
    refit: Refit | None = None
    validation_run: TrainedModel | None = None

    @functools.cached_property
    def _test_scores(self) -> tuple[float, float]:
        x, y = self.data.x_test, one_hot(self.data.y_test)
        loss, accuracy = self.model.evaluate(x, y, batch_size=1000, verbose=0)
        return float(loss), float(accuracy)

    @functools.cached_property
    def temperature(self) -> float | None:
        """The temperature that calibrates the model's probabilities, fitted on the
        validation split (:func:`mnistlib.calibration.fit_temperature`); ``None`` for a
        model refitted on all the training images, which has no held-out images left."""
        if self.refit is not None:
            return None
        probabilities = self.model.predict(self.data.x_val, batch_size=1000, verbose=0)
        return fit_temperature(probabilities, self.data.y_val)

    @property
    def test_accuracy(self) -> float:
        """Accuracy on the 10,000 test images (measured when first asked)."""
        return self._test_scores[1]

    @property
    def test_loss(self) -> float:
        """Cross-entropy on the 10,000 test images."""
        return self._test_scores[0]


def book_callbacks(config: TrainConfig) -> list[keras.callbacks.Callback]:
    """The callbacks of a run with a validation split, as the model chapters write them.

    With the ``"plateau"`` schedule, ``ReduceLROnPlateau`` halves the learning
    rate when the validation loss has not improved for two epochs.
    ``EarlyStopping``, with the whole run as its patience, never stops early:
    it puts back the weights of the epoch with the best validation accuracy.
    """
    keep_best = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=config.epochs, restore_best_weights=True
    )
    if config.schedule != "plateau":
        return [keep_best]
    halve_when_stuck = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5
    )
    return [halve_when_stuck, keep_best]


def _seeded_model(config: TrainConfig, examples: int, devices: int = 1) -> keras.Model:
    """The seeded, compiled model; with ``devices > 1``, one replica on each device
    (built in the scope of :func:`mnistlib.distribute.mirrored_strategy`)."""
    if devices > 1:
        from mnistlib.distribute import mirrored_strategy

        with mirrored_strategy(devices).scope():
            return _seeded_model(config, examples)
    keras.utils.set_random_seed(config.seed)
    return build_model(config.model, learning_rate_for(config, examples), config.augment)


def _record(
    model: keras.Model, config: TrainConfig, history: CachedHistory, data: Prepared
) -> TrainedModel:
    has_validation = "val_accuracy" in history.history
    return TrainedModel(
        model=model,
        config=config,
        history=history.history,
        path=history.path,
        from_cache=history.from_cache,
        parameters=int(model.count_params()),
        epoch_seconds=history.epoch_seconds,
        train_seconds=history.seconds,
        best_epoch=best_epoch(history.history) if has_validation else None,
        data=data,
    )


def _watchers(log_dir: Path | None) -> list[keras.callbacks.Callback]:
    """Keras's ``TensorBoard`` callback writing to ``log_dir``, if given (it changes nothing
    the model learns, so the cache key ignores it)."""
    if not log_dir:
        return []
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise ModuleNotFoundError(
            "TensorBoard logs need the tensorboard package: pip install tensorboard"
        )
    return [keras.callbacks.TensorBoard(log_dir=str(log_dir))]


def _validation_run(
    config: TrainConfig,
    data: Prepared,
    verbose: bool,
    devices: int = 1,
    log_dir: Path | None = None,
) -> TrainedModel:
    """Fit on the fit split, watching the validation split (the model chapters' ``fit``)."""
    model = _seeded_model(config, len(data.x_fit), devices)
    history = cached_fit(
        model,
        data.x_fit,
        one_hot(data.y_fit),
        validation_data=(data.x_val, one_hot(data.y_val)),
        epochs=config.epochs,
        batch_size=config.batch_size,
        callbacks=[*book_callbacks(config), *_watchers(log_dir)],
        verbose=2 if verbose else 0,
    )
    return _record(model, config, history, data)


def _refit_on_all(
    config: TrainConfig,
    data: Prepared,
    verbose: bool,
    devices: int = 1,
    log_dir: Path | None = None,
) -> TrainedModel:
    """Train ``config``'s network again, from its seed, on all the training images.

    With the ``"plateau"`` schedule, the validation run says how long to train
    and at which rates (replayed by ``LearningRateScheduler``); the cosine
    schedule is fixed in advance and is stretched over the larger set.
    """
    images = np.concatenate([data.x_fit, data.x_val])
    labels = one_hot(np.concatenate([data.y_fit, data.y_val]))
    run, callbacks, epochs = None, [], config.epochs
    if config.schedule == "plateau":
        run = _validation_run(replace(config, refit=False), data, verbose, devices, log_dir)
        rates = run.history["learning_rate"][: run.best_epoch]
        callbacks = [keras.callbacks.LearningRateScheduler(lambda epoch: rates[epoch])]
        epochs = len(rates)
    model = _seeded_model(config, len(images), devices)
    history = cached_fit(
        model,
        images,
        labels,
        epochs=epochs,
        batch_size=config.batch_size,
        callbacks=[*callbacks, *_watchers(log_dir and Path(log_dir) / "refit")],
        verbose=2 if verbose else 0,
    )
    trained = _record(model, config, history, data)
    trained.refit = Refit(images=len(images), epochs=epochs, seconds=history.seconds)
    if run is not None:
        trained.validation_run = run
        trained.best_epoch = run.best_epoch
        trained.train_seconds = round(run.train_seconds + history.seconds, 2)
    return trained


def load_or_train(
    config: TrainConfig,
    data: Prepared | None = None,
    verbose: bool = True,
    devices: int = 1,
    log_dir: str | Path | None = None,
) -> TrainedModel:
    """The model ``config`` describes: from the cache if it was trained before, else trained.

    With ``verbose``, Keras's line per epoch is printed either way (from the
    stored log for a cached model). With ``config.refit``, the returned model
    is the one refitted on all the training images. With ``devices > 1``, the
    model trains as one replica per device, each on its share of every batch
    (``config.batch_size`` is the global batch); the cache keeps it apart.
    With ``log_dir``, a training (not a cache hit) writes TensorBoard logs there.
    """
    data = data or prepare_data(config.validation_fraction)
    log_dir = Path(log_dir) if log_dir else None
    if config.refit:
        return _refit_on_all(config, data, verbose, devices, log_dir)
    return _validation_run(config, data, verbose, devices, log_dir)
