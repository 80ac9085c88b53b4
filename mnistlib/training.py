"""Train the book's models reproducibly, and keep them in a cache.

:func:`train` fits a model on MNIST with a held-out validation split and
measures it on the test set. :func:`load_or_train` does the same, but first
looks in ``outputs/models`` for a model trained with exactly the same
configuration on exactly the same data, and returns it instead of training
again. Each saved model is a native ``.keras`` file with a JSON of metadata
beside it (accuracy, history, timings, versions, checksums).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras.optimizers.schedules import LearningRateSchedule

from mnistlib.data import (
    add_channel_axis,
    data_fingerprint,
    load_mnist,
    one_hot,
    scale_pixels,
    split_validation,
)
from mnistlib.models import ARCHITECTURE_REVISIONS, build_model

__all__ = [
    "BATCHES_PER_CALL",
    "BOOK_CONFIGS",
    "LADDER_CONFIGS",
    "WIDE_CHOSEN_PEAK",
    "WIDE_SEARCH",
    "Prepared",
    "TrainConfig",
    "TrainedModel",
    "batches_per_call",
    "best_epoch",
    "book_config",
    "cache_path",
    "fit_model",
    "load_or_train",
    "model_dir",
    "prepare_data",
    "refit_on_all",
    "score_on_test_set",
    "seed_everything",
    "train",
    "warmup_cosine",
]

#: Bump when the training procedure changes in a way that changes results.
CACHE_FORMAT = 3


#: How the learning rate moves during a run (see :func:`learning_rate_for`).
SCHEDULES = ("plateau", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a training run produces.

    Whatever the seed, every run holds out the same validation images (those
    of :func:`prepare_data`'s default split), so that runs are compared on the
    same digits.
    """

    model: str
    epochs: int = 10
    batch_size: int = 200
    learning_rate: float = 1e-3
    validation_fraction: float = 0.1
    seed: int = 0  # the weights' start, the order of the images, augmentation and dropout
    augment: bool = False  # random rotations, shifts and zooms while training
    schedule: str = "plateau"  # or "cosine": one warm-up, then a cosine decay to zero
    refit: bool = False  # then train again on all the training images (see refit_on_all)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")

    def key(self, data_checksum: str) -> str:
        """A short hash of the configuration and the data: the cache key."""
        fields = asdict(self)
        if not self.refit:
            del fields["refit"]  # so runs saved before the option existed keep their keys
        if self.model in ARCHITECTURE_REVISIONS:  # the layers changed since the first version
            fields["architecture"] = ARCHITECTURE_REVISIONS[self.model]
        text = json.dumps([CACHE_FORMAT, fields, data_checksum], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


#: The book's training run of each model. Each holds out a tenth of the training
#: images for validation and keeps the weights of its best epoch on them.
BOOK_CONFIGS = {
    # Half Adam's default rate: the large dense layer overfits within a few
    # epochs at 0.001, and smaller steps give a steadier validation curve.
    "mlp": TrainConfig("mlp", epochs=20, learning_rate=5e-4),
    # Validation accuracy peaked at epoch 16 of a 20-epoch run, so 16 epochs;
    # then one more fit on all 60,000 images with the rates that run used.
    "cnn": TrainConfig("cnn", epochs=16, refit=True),
    "deeper-cnn": TrainConfig("deeper-cnn", epochs=12),
}

#: The ladder of chapter 7 on the deeper CNN, each step keeping the one before
#: and adding one idea (the wider network that comes next is :data:`WIDE_SEARCH`).
LADDER_CONFIGS = {
    "+ batch normalisation": TrainConfig("deeper-cnn-bn", epochs=12),
    "+ augmentation": TrainConfig("deeper-cnn-bn", epochs=15, augment=True),
    "+ warm-up and cosine decay": TrainConfig(
        "deeper-cnn-bn", epochs=15, learning_rate=2e-3, augment=True, schedule="cosine"
    ),
}

#: Chapter 7's search over the wide all-convolutional network, with augmentation
#: and the warm-up and cosine schedule, at three peak learning rates.
WIDE_SEARCH = {
    peak: TrainConfig("wide-cnn", epochs=15, learning_rate=peak, augment=True, schedule="cosine")
    for peak in (2e-3, 4e-3, 8e-3)
}

#: The peak learning rate that chapter 7's search chose on the validation split
#: (the chapter checks that this is still its choice).
WIDE_CHOSEN_PEAK = 4e-3


def book_config(model: str) -> TrainConfig:
    """The book's final training run of ``model``: chapters 2-4's, or chapter 7's best."""
    final = {
        **BOOK_CONFIGS,
        "deeper-cnn-bn": LADDER_CONFIGS["+ batch normalisation"],
        "wide-cnn": WIDE_SEARCH[WIDE_CHOSEN_PEAK],
    }
    if model not in final:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(final)}")
    return final[model]


def warmup_cosine(peak: float, steps: int, warmup_fraction: float = 0.15) -> LearningRateSchedule:
    """Keras's ``CosineDecay`` with a warm-up: the rate climbs linearly from a
    tenth of ``peak`` to ``peak`` over the first steps, then follows half a
    cosine down to zero at the last step (a "one-cycle" shape).
    """
    warmup = int(steps * warmup_fraction)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=peak / 10,
        decay_steps=steps - warmup,
        alpha=0.0,
        warmup_target=peak,
        warmup_steps=warmup,
    )


def learning_rate_for(config: TrainConfig, examples: int) -> float | LearningRateSchedule:
    """The optimiser's learning rate: fixed (the plateau callback lowers it) or a schedule."""
    if config.schedule == "cosine":
        steps = math.ceil(examples / config.batch_size) * config.epochs
        return warmup_cosine(config.learning_rate, steps)
    return config.learning_rate


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
    checksum: str  # of the raw training and test data


@dataclass
class TrainedModel:
    """A trained model with what we know about it."""

    model: keras.Model
    metadata: dict[str, Any]
    path: Path
    from_cache: bool = False

    @property
    def test_accuracy(self) -> float:
        return float(self.metadata["test_accuracy"])

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch ``loss``, ``accuracy``, ``val_loss`` and ``val_accuracy``."""
        return self.metadata["history"]


@functools.lru_cache(maxsize=2)
def prepare_data(validation_fraction: float = 0.1, seed: int = 0) -> Prepared:
    """Load MNIST, scale it to [0, 1], add the channel axis and split off validation.

    The result is kept for the rest of the session (chapters ask for it often);
    its arrays are read-only so that no caller can change them for the others.
    """
    (x_train, y_train), (x_test, y_test) = load_mnist()
    checksum = hashlib.sha256(
        "".join(data_fingerprint(a) for a in (x_train, y_train, x_test, y_test)).encode()
    ).hexdigest()
    images = add_channel_axis(scale_pixels(x_train))
    (x_fit, y_fit), (x_val, y_val) = split_validation(images, y_train, validation_fraction, seed)
    arrays = [x_fit, y_fit, x_val, y_val, add_channel_axis(scale_pixels(x_test)), y_test]
    for array in arrays:
        array.flags.writeable = False
    return Prepared(*arrays, checksum=checksum)


class EpochLog(keras.callbacks.Callback):
    """One short line per epoch: losses and accuracies, training and validation."""

    def __init__(self, epochs: int, verbose: bool = True) -> None:
        super().__init__()
        self.epochs = epochs
        self.verbose = verbose
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        if self.verbose:
            print(format_epoch(epoch, self.epochs, logs or {}, self.seconds[-1]), flush=True)


def format_epoch(epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> str:
    """``epoch  3/10  loss 0.0712  accuracy 0.9787  val_loss ...  lr 0.001  (4.1 s)``."""
    width = len(str(epochs))
    values = "  ".join(
        f"{name} {logs[name]:.4f}"
        for name in ("loss", "accuracy", "val_loss", "val_accuracy")
        if name in logs
    )
    if "learning_rate" in logs:
        values += f"  lr {logs['learning_rate']:.2g}"
    return f"epoch {epoch + 1:>{width}}/{epochs}  {values}  ({seconds:.1f} s)"


def model_dir() -> Path:
    """Where trained models are kept: ``$MNIST_OUTPUTS/models``, else ``outputs/models``.

    ``outputs`` is the project's folder when ``mnistlib`` runs from a checkout
    of the book, otherwise the working directory's.
    """
    if os.environ.get("MNIST_OUTPUTS"):
        return Path(os.environ["MNIST_OUTPUTS"]) / "models"
    project = Path(__file__).resolve().parent.parent
    base = project if (project / "pyproject.toml").is_file() else Path.cwd()
    return base / "outputs" / "models"


def cache_path(config: TrainConfig, data: Prepared) -> Path:
    """The file that ``config``'s model, trained on ``data``, is saved to and loaded from."""
    return model_dir() / f"{config.model}-{config.key(data.checksum)}.keras"


def _atomic_write(path: Path, write: Any, suffix: str) -> None:
    """Write through ``write(temporary_path)``, then rename over ``path`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=suffix)
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


#: Batches per call into TensorFlow's compiled graph while a model trains.
BATCHES_PER_CALL = 10


@contextlib.contextmanager
def batches_per_call(model: keras.Model, batches: int = BATCHES_PER_CALL) -> Iterator[None]:
    """While fitting, run ``batches`` batches per call into the compiled graph.

    Keras's ``steps_per_execution``: the same updates in the same order, but
    Python steps in ten times less often, which saves time per batch on small
    networks. Afterwards the model is back to one batch per call, so that
    predictions on any number of images need no new graph.
    """
    model.steps_per_execution = batches
    model.train_function = model.test_function = model.predict_function = None
    try:
        yield
    finally:
        model.steps_per_execution = 1
        model.train_function = model.test_function = model.predict_function = None


def fit_model(
    model: keras.Model,
    data: Prepared,
    config: TrainConfig,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """Fit ``model`` for ``config.epochs``, measuring the validation images after each.

    Keras callbacks watch the validation scores: ``EarlyStopping`` puts back
    the weights of the epoch with the best validation accuracy at the end (its
    patience is the whole run, so it never stops early), and, with the
    ``"plateau"`` schedule, ``ReduceLROnPlateau`` halves the learning rate when
    the validation loss has not improved for two epochs.
    """
    keep_best = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=config.epochs, restore_best_weights=True
    )
    watchers: list[keras.callbacks.Callback] = [keep_best]
    if config.schedule == "plateau":
        halve_when_stuck = keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5
        )
        watchers.insert(0, halve_when_stuck)
    with batches_per_call(model):
        return model.fit(
            data.x_fit,
            one_hot(data.y_fit),  # labels as one-hot rows, to match the softmax output
            validation_data=(data.x_val, one_hot(data.y_val)),
            epochs=config.epochs,
            batch_size=config.batch_size,
            shuffle=True,  # a new order of the examples every epoch
            verbose=0,  # EpochLog prints one short line per epoch instead
            callbacks=[*watchers, *callbacks],
        )


def score_on_test_set(model: keras.Model, data: Prepared) -> dict[str, float]:
    """The model's ``test_accuracy`` and ``test_loss`` on the 10,000 test images."""
    loss, accuracy = model.evaluate(data.x_test, one_hot(data.y_test), batch_size=1000, verbose=0)
    return {"test_accuracy": float(accuracy), "test_loss": float(loss)}


def train(config: TrainConfig, data: Prepared | None = None, verbose: bool = True) -> TrainedModel:
    """Train ``config.model`` from a fixed seed, evaluate it on the test set and save it."""
    if config.refit:
        raise ValueError("a refit follows a validation run: use load_or_train")
    data = data or prepare_data(config.validation_fraction)
    seed_everything(config.seed)
    learning_rate = learning_rate_for(config, len(data.x_fit))
    model = build_model(config.model, learning_rate, config.augment)
    log = EpochLog(config.epochs, verbose)
    started = time.perf_counter()
    history = fit_model(model, data, config, [log])
    train_seconds = time.perf_counter() - started
    metadata = {
        "config": asdict(config),
        **score_on_test_set(model, data),
        "best_epoch": best_epoch(history.history),
        "train_seconds": round(train_seconds, 2),
        **_fit_record(model, history, log, data),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = cache_path(config, data)
    save_model(model, metadata, path)
    return TrainedModel(model, metadata, path, from_cache=False)


def _fit_record(
    model: keras.Model, history: keras.callbacks.History, log: EpochLog, data: Prepared
) -> dict[str, Any]:
    """What a training run saves about its fit: size, per-epoch times and curves, data, versions."""
    return {
        "parameters": int(model.count_params()),
        "epoch_seconds": log.seconds,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "data_checksum": data.checksum,
        "versions": _versions(),
    }


def save_model(model: keras.Model, metadata: dict[str, Any], path: Path) -> None:
    """Save the model, then its metadata with the model file's checksum, both atomically."""
    _atomic_write(path, model.save, ".keras")
    metadata["model_sha256"] = _file_sha256(path)
    _atomic_write(
        path.with_suffix(".json"),
        lambda p: p.write_text(json.dumps(metadata, indent=2) + "\n"),
        ".json",
    )


class CachedModelError(RuntimeError):
    """A cached model exists but cannot be trusted; the message says why."""


def load_cached(path: Path) -> TrainedModel:
    """Load a saved model and its metadata, checking that they belong together.

    Keras's ``safe_mode`` stays on: a file that would run arbitrary code
    (a ``Lambda`` layer's pickled function) is refused.
    """
    meta_path = path.with_suffix(".json")
    if not path.is_file() or not meta_path.is_file():
        raise CachedModelError(f"{path}: model or metadata file missing")
    try:
        metadata = json.loads(meta_path.read_text())
    except (OSError, ValueError) as error:
        raise CachedModelError(f"{meta_path}: unreadable metadata ({error})") from error
    if metadata.get("model_sha256") != _file_sha256(path):
        raise CachedModelError(f"{path}: the file changed since it was saved (checksum differs)")
    try:
        model = keras.models.load_model(path, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file
        raise CachedModelError(f"{path}: not a loadable Keras model ({error})") from error
    return TrainedModel(model, metadata, path, from_cache=True)


def load_or_train(
    config: TrainConfig, data: Prepared | None = None, verbose: bool = True
) -> TrainedModel:
    """Return the cached model for ``config`` if it is there and sound, else train it.

    A cached model whose files are damaged is reported and trained again,
    never used. With ``verbose``, the same per-epoch lines are printed either
    way (from the saved history for a cached model), so a page reads the same.
    With ``config.refit``, :func:`refit_on_all` trains on all the training
    images, after the validation run (cached the same way) for the
    ``"plateau"`` schedule, and the refitted model is returned.
    """
    data = data or prepare_data(config.validation_fraction)
    path = cache_path(config, data)
    if path.exists() or path.with_suffix(".json").exists():
        try:
            cached = load_cached(path)
        except CachedModelError as error:
            print(f"Cached model not used, training again: {error}", flush=True)
        else:
            if verbose:
                _replay_log(cached.metadata)
            return cached
    if config.refit:
        # A plateau run's learning rates come from a validation run; a cosine
        # schedule is fixed in advance and needs none.
        plateau = config.schedule == "plateau"
        run = load_or_train(replace(config, refit=False), data, verbose) if plateau else None
        return refit_on_all(config, data, run, verbose)
    return train(config, data, verbose)


def refit_on_all(
    config: TrainConfig,
    data: Prepared,
    run: TrainedModel | None = None,
    verbose: bool = True,
) -> TrainedModel:
    """Train ``config``'s network from its seed on all the training images.

    No image is held out (54,000 + 6,000 = 60,000), so how long to train and
    how fast must be known beforehand. With the ``"plateau"`` schedule they
    come from ``run``, the validation run: its rates are replayed up to its
    best epoch with Keras's ``LearningRateScheduler``, and its learning curves
    stand for the refit's. The ``"cosine"`` schedule is fixed in advance, so
    no validation run is needed: the network trains for ``config.epochs``
    with the schedule stretched over the larger set, and its curves are its
    own training loss and accuracy. The result is measured on the test set.
    """
    config = replace(config, refit=True)
    images = np.concatenate([data.x_fit, data.x_val])
    labels = one_hot(np.concatenate([data.y_fit, data.y_val]))
    seed_everything(config.seed)
    if config.schedule == "plateau":
        if run is None:
            raise ValueError("a plateau refit replays the rates of its validation run: pass run")
        rates = run.history["learning_rate"][: run.metadata["best_epoch"]]
        model = build_model(config.model, config.learning_rate, config.augment)
        replay = keras.callbacks.LearningRateScheduler(lambda epoch, _: float(rates[epoch]))
        epochs, callbacks = len(rates), [replay]
    else:
        model = build_model(config.model, learning_rate_for(config, len(images)), config.augment)
        epochs, callbacks = config.epochs, []
    log = EpochLog(epochs, verbose and run is None)  # a validation run has printed its epochs
    started = time.perf_counter()
    with batches_per_call(model):
        history = model.fit(
            images,
            labels,
            epochs=epochs,
            batch_size=config.batch_size,
            shuffle=True,
            verbose=0,
            callbacks=[*callbacks, log],
        )
    refit_seconds = time.perf_counter() - started
    refit = {"epochs": epochs, "images": len(images), "seconds": round(refit_seconds, 2)}
    if run is not None:
        base = run.metadata
        refit["validation_run_test_accuracy"] = run.test_accuracy
    else:
        base = _fit_record(model, history, log, data)
    metadata = {
        **base,
        "config": asdict(config),
        **score_on_test_set(model, data),
        "train_seconds": round(base.get("train_seconds", 0.0) + refit_seconds, 2),
        "refit": refit,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if verbose:
        print(_refit_line(refit), flush=True)
    path = cache_path(config, data)
    save_model(model, metadata, path)
    return TrainedModel(model, metadata, path, from_cache=False)


def _refit_line(refit: dict[str, Any]) -> str:
    return (
        f"refit on all {refit['images']:,} training images: "
        f"{refit['epochs']} epochs ({refit['seconds']:.1f} s)"
    )


def _replay_log(metadata: dict[str, Any]) -> None:
    """Print a cached model's per-epoch lines, as they were printed when it was trained."""
    history = metadata["history"]
    epochs = metadata["config"]["epochs"]
    for epoch, seconds in enumerate(metadata["epoch_seconds"]):
        logs = {name: values[epoch] for name, values in history.items()}
        print(format_epoch(epoch, epochs, logs, seconds))
    if "refit" in metadata:
        print(_refit_line(metadata["refit"]))
