"""``cached_fit``: Keras's ``model.fit``, remembered.

``history = cached_fit(model, x, y, epochs=..., callbacks=[...])`` takes
``model.fit``'s arguments and returns what it returns. The first time, it
calls ``model.fit`` and keeps the trained weights, the history and the
printed log in the model store (:mod:`mnistlib.store`). The next time it is
asked for the same training, it puts those weights back into ``model`` and
returns the same history, in a second instead of minutes.

"The same training" is decided by a key: a hash of the model's layers and
starting weights, its compile settings (optimizer, loss, metrics), the fit
arguments, the settings of the callbacks that change training, the seeds'
state and the checksums of the data arrays. Anything else trains anew.

While it fits, it also makes TensorFlow's operations deterministic (the
same result on every run) and runs ten batches per call into the compiled
graph (Keras's ``steps_per_execution``: the same updates, faster). The
book's appendix, "How this book trains", shows all of this.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import platform
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mnistlib.fitkey import CACHE_FORMAT, fit_key
from mnistlib.store import (
    NotStoredError,
    StoreError,
    TrainingDivergedError,
    keep_elsewhere,
    model_dir,
    read_record,
    require_writable_store,
    sweep_stale_temporaries,
    write_entry,
)

__all__ = [
    "BATCHES_PER_CALL",
    "CachedHistory",
    "EpochTimer",
    "TrainingDivergedError",
    "cached_fit",
    "measured_speed",
    "stored_only",
]

#: Batches per call into TensorFlow's compiled graph while a model trains.
BATCHES_PER_CALL = 10


class CachedHistory(keras.callbacks.History):
    """``model.fit``'s ``History``, with where it was stored and how long training took."""

    def __init__(
        self,
        history: keras.callbacks.History,
        record: dict[str, Any],
        path: Path,
        from_cache: bool,
    ) -> None:
        super().__init__()
        self.history = history.history
        self.epoch = history.epoch
        self.params = history.params
        self.path = path
        self.from_cache = from_cache
        self.epoch_seconds: list[float] = record["epoch_seconds"]
        self.seconds: float = record["fit_seconds"]


def cached_fit(
    model: keras.Model, x: Any = None, y: Any = None, **fit_arguments: Any
) -> CachedHistory:
    """``model.fit(x, y, **fit_arguments)``, or its stored result when there is one.

    On a hit, the stored weights (and the optimizer's state) are loaded into
    ``model`` and the stored history is returned; with ``verbose`` other than
    0, the lines Keras printed when it trained are printed again. A stored
    entry that is damaged is reported on stderr and trained anew.
    """
    key = fit_key(model, x, y, **fit_arguments)
    path = model_dir() / f"{_stable_name(model.name)}-{key}.keras"
    if path.parent.is_dir():
        sweep_stale_temporaries(path.parent)
    verbose = fit_arguments.pop("verbose", "auto") != 0
    if path.exists() or path.with_suffix(".json").exists():
        try:
            return _restore(model, path, verbose)
        except StoreError as error:
            if not _TRAINING_ALLOWED.get():
                raise NotStoredError(f"stored model not usable: {error}") from error
            print(f"Stored model not used, training again: {error}", file=sys.stderr)
    if not _TRAINING_ALLOWED.get():
        raise NotStoredError(f"no stored model {path.name} in {path.parent}")
    require_writable_store()
    return _fit_and_store(model, x, y, fit_arguments, path, verbose)


_TRAINING_ALLOWED = contextvars.ContextVar("training_allowed", default=True)


@contextlib.contextmanager
def stored_only() -> Iterator[None]:
    """Within this block, :func:`cached_fit` raises ``NotStoredError`` instead of training."""
    token = _TRAINING_ALLOWED.set(False)
    try:
        yield
    finally:
        _TRAINING_ALLOWED.reset(token)


def _stable_name(name: str) -> str:
    """``cnn_2`` -> ``cnn``: Keras numbers the names of models built again in a session."""
    return re.sub(r"_\d+$", "", name) or "model"


class _Tee(io.TextIOBase):
    """Write to a stream (or nowhere) and keep a copy."""

    def __init__(self, stream: Any | None) -> None:
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        if self.stream is not None:
            self.stream.write(text)
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()


class EpochTimer(keras.callbacks.Callback):
    """Seconds per epoch, kept for the record."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(round(time.perf_counter() - self._start, 3))


@contextlib.contextmanager
def _fast_and_deterministic(model: keras.Model) -> Iterator[None]:
    """While fitting: deterministic operations, and ten batches per call into the graph
    (one on several devices, where Keras 3.15 fails with more)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    replicas = model.distribute_strategy.num_replicas_in_sync
    model.steps_per_execution = BATCHES_PER_CALL if replicas == 1 else 1
    model.train_function = model.test_function = model.predict_function = None
    try:
        yield
    finally:  # one batch per call again, so that predicting builds no new graph
        model.steps_per_execution = 1
        model.train_function = model.test_function = model.predict_function = None


def _fit_and_store(
    model: keras.Model, x: Any, y: Any, fit_arguments: dict[str, Any], path: Path, verbose: bool
) -> CachedHistory:
    timer = EpochTimer()
    log = _Tee(sys.stdout if verbose else None)
    # Keras's TerminateOnNaN stops at the first batch whose loss is NaN or infinite
    stop = keras.callbacks.TerminateOnNaN()
    callbacks = [*(fit_arguments.pop("callbacks", None) or []), timer, stop]
    started = time.perf_counter()
    with _fast_and_deterministic(model), contextlib.redirect_stdout(log):
        history = model.fit(x, y, verbose=2, callbacks=callbacks, **fit_arguments)
    _require_finite_loss(history)
    record = {
        "format": CACHE_FORMAT,
        "model": model.name,
        "parameters": int(model.count_params()),
        "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        "epoch": list(history.epoch),
        "params": history.params,
        "log": log.copy.getvalue(),
        "epoch_seconds": timer.seconds,
        "fit_seconds": round(time.perf_counter() - started, 2),
        "versions": _versions(),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        write_entry(model.save, record, path)
    except OSError as error:
        kept = keep_elsewhere(model.save, path.name)
        where = f"kept it in {kept}" if kept else "could not keep it anywhere"
        raise StoreError(
            f"{path}: the trained model could not be saved ({error}); {where}"
        ) from error
    return CachedHistory(history, record, path, from_cache=False)


def _require_finite_loss(history: keras.callbacks.History) -> None:
    """Raise :class:`TrainingDivergedError` if a loss of ``history`` is not finite."""
    for name in ("loss", "val_loss"):
        for epoch, value in enumerate(history.history.get(name, []), start=1):
            if not np.isfinite(value):
                raise TrainingDivergedError(
                    f"the {name.replace('_', ' ')} became {value} at epoch {epoch}: training "
                    "stopped and nothing was stored (try a smaller learning rate)"
                )


def _restore(model: keras.Model, path: Path, verbose: bool) -> CachedHistory:
    """Load a stored fit's weights into ``model`` and rebuild its history."""
    record = read_record(path)
    try:
        history = keras.callbacks.History()
        history.history = {k: [float(v) for v in vs] for k, vs in record["history"].items()}
        history.epoch = [int(e) for e in record["epoch"]]
        history.params = dict(record["params"])
        log = str(record["log"])
        record["epoch_seconds"] = [float(s) for s in record["epoch_seconds"]]
        record["fit_seconds"] = float(record["fit_seconds"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise StoreError(f"{path.with_suffix('.json')}: incomplete record ({error!r})") from error
    with model.distribute_strategy.scope():  # a model on several devices: their scope
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        try:
            model.load_weights(path)  # Keras reads the weights alone: no code runs
        except Exception as error:  # Keras raises many types for a bad file
            raise StoreError(f"{path}: weights that do not load ({error})") from error
    history.set_model(model)
    if verbose:
        print(log, end="", flush=True)
    return CachedHistory(history, record, path, from_cache=True)


def _versions() -> dict[str, str]:
    import tensorflow as tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def measured_speed() -> dict[str, Any]:
    """The last run of ``bench/train_speed.py`` (``make bench``), installed with the library.

    Seconds per epoch of the book's training and of plain Keras, with the
    machine and the settings of that run.
    """
    return json.loads(
        (Path(__file__).resolve().parent / "results" / "train_speed.json").read_text()
    )
