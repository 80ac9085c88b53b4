"""The key of a training: a short hash of everything that decides what ``model.fit`` produces.

:func:`fit_key` hashes the model's layers (without their names) and starting
weights, its compile settings, every argument of ``fit`` (arrays by their
checksum), the settings of the callbacks that change training, and the state
of Python's and NumPy's random generators, and the number of replicas when
the model trains on several devices. :func:`mnistlib.cache.cached_fit`
names its stored models by it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import random
from typing import Any

import keras
import numpy as np

__all__ = ["CACHE_FORMAT", "fit_key"]

#: Bump when what a cached fit stores, or how it trains, changes.
CACHE_FORMAT = 4

#: Callbacks that watch training without changing it: not part of the key.
OBSERVERS = (
    keras.callbacks.History,
    keras.callbacks.ProgbarLogger,
    keras.callbacks.TensorBoard,
    keras.callbacks.CSVLogger,
    keras.callbacks.ModelCheckpoint,
)

#: A callback's running state (reset when training begins): not a setting.
CALLBACK_STATE = {
    "model",
    "params",
    "verbose",
    "wait",
    "best",
    "best_weights",
    "best_epoch",
    "stopped_epoch",
    "cooldown_counter",
    "monitor_op",
}

#: ``model.fit``'s arguments and their defaults.
FIT_SIGNATURE = inspect.signature(keras.Model.fit)

#: ``model.fit`` arguments that do not change what the model learns.
NOT_KEYED = {"self", "verbose", "callbacks"}


def fit_key(model: keras.Model, x: Any = None, y: Any = None, **fit_arguments: Any) -> str:
    """The short hash that names a training: the same key, the same trained model."""
    bound = FIT_SIGNATURE.bind(model, x, y, **fit_arguments)
    bound.apply_defaults()
    arguments = {
        name: _describe_value(name, value)
        for name, value in bound.arguments.items()
        if name not in NOT_KEYED
    }
    epochs = int(bound.arguments["epochs"])
    callbacks = [
        _describe_callback(callback, epochs, model)
        for callback in bound.arguments["callbacks"] or []
        if not isinstance(callback, OBSERVERS)
    ]
    parts = [
        CACHE_FORMAT,
        _describe_model(model),
        _describe_compile(model),
        arguments,
        callbacks,
        _seed_state(),
    ]
    replicas = model.distribute_strategy.num_replicas_in_sync
    if replicas > 1:  # one device keeps the keys it always had
        parts.append({"replicas": replicas})
    text = json.dumps(parts, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _array_digest(array: Any) -> str:
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _describe_value(name: str, value: Any) -> Any:
    """A fit argument as JSON: arrays by checksum, numbers and strings as they are."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        return _array_digest(value)
    if isinstance(value, (tuple, list)):
        return [_describe_value(name, item) for item in value]
    if isinstance(value, dict):
        return {str(k): _describe_value(name, v) for k, v in sorted(value.items())}
    raise TypeError(
        f"cached_fit keys NumPy arrays, numbers and strings; {name} is a "
        f"{type(value).__name__}: call model.fit directly"
    )


def _normalise_names(config: Any) -> Any:
    """The model's configuration with its layers' names replaced by their order.

    Keras numbers the default names (``dense_3``) by how many layers a session
    has built, so two identical models can have different names.
    """
    names: dict[str, str] = {}

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("name"), str):
                names.setdefault(node["name"], f"#{len(names)}")
            for value in node.values():
                collect(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                collect(value)

    def rename(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: rename(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [rename(v) for v in node]
        return names.get(node, node) if isinstance(node, str) else node

    collect(config)
    return rename(config)


def _describe_model(model: keras.Model) -> Any:
    """The layers (without their names) and a checksum of the starting weights."""
    weights = hashlib.sha256()
    for array in model.get_weights():
        weights.update(_array_digest(array).encode())
    config = {"class": type(model).__name__, "config": model.get_config()}
    return [_normalise_names(config), weights.hexdigest()]


def _describe_compile(model: keras.Model) -> Any:
    """Optimizer, loss and metrics as ``compile`` received them (speed settings left out)."""
    if getattr(model, "optimizer", None) is None:
        raise ValueError("cached_fit needs a compiled model: call model.compile first")
    config = dict(model.get_compile_config())
    config.pop("steps_per_execution", None)
    optimizer = keras.optimizers.serialize(model.optimizer)
    optimizer["config"] = {k: v for k, v in optimizer["config"].items() if k != "name"}
    config["optimizer"] = optimizer
    return config


def _describe_callback(callback: keras.callbacks.Callback, epochs: int, model: keras.Model) -> Any:
    """A callback that changes training: its class and settings as JSON."""
    kind = type(callback).__name__
    if isinstance(callback, keras.callbacks.LearningRateScheduler):
        return [kind, _scheduled_rates(callback, epochs, model)]
    settings = {}
    for name, value in sorted(vars(callback).items()):
        if name.startswith("_") or name in CALLBACK_STATE:
            continue
        if callable(value):
            raise TypeError(
                f"cached_fit cannot tell what {kind}.{name} does to training: "
                "call model.fit directly"
            )
        settings[name] = value
    return [kind, settings]


def _scheduled_rates(
    callback: keras.callbacks.LearningRateScheduler, epochs: int, model: keras.Model
) -> list[float]:
    """The rates a ``LearningRateScheduler`` will set, epoch by epoch (as Keras calls it)."""
    rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    rates = []
    for epoch in range(epochs):
        try:
            rate = float(callback.schedule(epoch, rate))
        except TypeError:  # a schedule of the epoch alone, as Keras allows
            rate = float(callback.schedule(epoch))
        rates.append(rate)
    return rates


def _seed_state() -> str:
    """A checksum of Python's and NumPy's random state: seeded the same, drawn the same."""
    state = repr((random.getstate(), np.random.get_state()[1].tolist()))
    return hashlib.sha256(state.encode()).hexdigest()
