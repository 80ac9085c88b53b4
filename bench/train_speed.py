"""Seconds per training epoch: the book's workflow against a plain Keras script.

For each model, trains a few epochs on each side, each in a fresh process so that
none inherits another's TensorFlow settings:

* ``book``: ``mnistlib.training.load_or_train`` on an empty cache, which
  seeds, builds and compiles the model as the chapters do and trains it with
  ``cached_fit`` (op determinism, ten batches per call into the compiled
  graph, the log kept and the atomic save included);
* ``plain``: the textbook script: a ``keras.Sequential`` of the same layers,
  compiled with Keras's defaults (one batch per call), ``model.fit`` on NumPy
  arrays with ``verbose=0``.

Both fit the same 54,000 images with the same 6,000 held out. The sides
alternate for ``--rounds`` rounds, because a shared CPU's speed drifts from
minute to minute; the first epoch (which includes tracing the graph) is
reported apart from the others. Of those, the table gives the median and the
fastest: on a machine whose epochs swing between two speeds (this one's do,
by up to about 2x, whichever code runs), the median can land on either, while
the fastest epoch is the one least slowed by the machine, as Python's
``timeit`` documentation argues for its minimum. Prints a table and both
ratios book / plain; it asserts nothing.

    python bench/train_speed.py [--epochs 3] [--rounds 3] [--models mlp cnn deeper-cnn]
    python bench/train_speed.py --json mnistlib/results/train_speed.json   # also keep the numbers
    python bench/train_speed.py --models deeper-cnn-bn wide-cnn --augment   # chapter 7

With ``--augment`` both sides start with the same Keras augmentation layers.
With ``--deterministic`` a third side, ``plain-det``, runs the plain script
after ``tf.config.experimental.enable_op_determinism()``, as the book does so
that a cold re-run reproduces its numbers exactly; TensorFlow warns that
determinism may cost speed, and this side measures how much.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median


def conv_bn(L, filters: int, size: int, pool: bool = True, padding: str = "valid") -> list:
    """Convolution without bias, optional 2x2 max-pooling, batch normalisation, ReLU."""
    pooling = [L.MaxPooling2D(2)] if pool else []
    convolution = L.Conv2D(filters, size, padding=padding, use_bias=False)
    return [convolution, *pooling, L.BatchNormalization(), L.ReLU()]


def dense_bn(L, units: int) -> list:
    """Dense layer without bias, batch normalisation, ReLU."""
    return [L.Dense(units, use_bias=False), L.BatchNormalization(), L.ReLU()]


PLAIN_LAYERS = {
    "mlp": lambda L: [L.Flatten(), L.Dense(784, activation="relu")],
    "cnn": lambda L: [
        L.Conv2D(32, 5, activation="relu"),
        L.MaxPooling2D(2),
        L.Dropout(0.2),
        L.Flatten(),
        L.Dense(128, activation="relu"),
    ],
    "deeper-cnn": lambda L: [
        L.Conv2D(30, 5, activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(15, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Dropout(0.2),
        L.Flatten(),
        L.Dense(128, activation="relu"),
        L.Dense(50, activation="relu"),
    ],
    "deeper-cnn-bn": lambda L: [
        *conv_bn(L, 30, 5),
        *conv_bn(L, 15, 3),
        L.Dropout(0.2),
        L.Flatten(),
        *dense_bn(L, 128),
        *dense_bn(L, 50),
    ],
    "wide-cnn": lambda L: [
        *conv_bn(L, 32, 5),
        *conv_bn(L, 64, 3, pool=False),
        *conv_bn(L, 64, 3),
        *conv_bn(L, 128, 3, pool=False),
        L.Flatten(),
        L.Dropout(0.3),
    ],
}


def augmentation_layers(L) -> list:
    """The same random rotations, zooms and shifts as ``mnistlib.models.digit_augmentation``."""
    return [
        L.RandomRotation(10 / 360, fill_mode="constant"),
        L.RandomZoom(0.1, fill_mode="constant"),
        L.RandomTranslation(0.1, 0.1, fill_mode="constant"),
    ]


def run_book(model: str, epochs: int, augment: bool) -> list[float]:
    from mnistlib.training import TrainConfig, load_or_train

    with tempfile.TemporaryDirectory() as outputs:
        os.environ["MNIST_OUTPUTS"] = outputs  # an empty cache: it trains
        trained = load_or_train(TrainConfig(model, epochs=epochs, augment=augment), verbose=False)
    return trained.epoch_seconds


def run_plain(model: str, epochs: int, augment: bool, deterministic: bool = False) -> list[float]:
    import keras
    import tensorflow as tf
    from keras import layers

    from mnistlib.training import prepare_data

    data = prepare_data(0.1, seed=0)
    keras.utils.set_random_seed(0)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    net = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            *(augmentation_layers(layers) if augment else []),
            *PLAIN_LAYERS[model](layers),
            layers.Dense(10, activation="softmax"),
        ]
    )
    net.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    net.fit(
        data.x_fit,
        keras.utils.to_categorical(data.y_fit, 10),
        validation_data=(data.x_val, keras.utils.to_categorical(data.y_val, 10)),
        epochs=epochs,
        batch_size=200,
        verbose=0,
        callbacks=[Timer()],
    )
    return seconds


def measure(side: str, model: str, epochs: int, augment: bool) -> list[float]:
    """Run one side in a fresh Python process and return its epoch times."""
    command = [sys.executable, __file__, "--child", side, model, str(epochs), str(int(augment))]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per side")
    parser.add_argument("--models", nargs="+", default=list(PLAIN_LAYERS))
    parser.add_argument("--augment", action="store_true", help="both sides augment the images")
    parser.add_argument(
        "--deterministic", action="store_true", help="also time the plain script with determinism"
    )
    parser.add_argument("--json", help="also write the table and ratios to this JSON file")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, model, epochs, augment = args.child
        if side == "book":
            seconds = run_book(model, int(epochs), augment == "1")
        else:
            seconds = run_plain(model, int(epochs), augment == "1", side == "plain-det")
        print(json.dumps(seconds))
        return
    sides = ["plain", *(["plain-det"] if args.deterministic else []), "book"]
    header = f"{'model':<11} {'side':<9} {'epoch 1 (s)':>11}"
    print(f"{header} {'later: median (s)':>18} {'fastest (s)':>12}")
    results = []
    for model in args.models:
        first: dict[str, list[float]] = {side: [] for side in sides}
        later: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(args.rounds):  # alternate, so that a noisy minute hits every side
            for side in sides:
                seconds = measure(side, model, args.epochs, args.augment)
                first[side].append(seconds[0])
                later[side].extend(seconds[1:])
        for side in sides:
            print(
                f"{model:<11} {side:<9} {median(first[side]):>11.2f}"
                f" {median(later[side]):>18.2f} {min(later[side]):>12.2f}"
            )
        for side in sides[:-1]:
            by_median = median(later["book"]) / median(later[side])
            by_fastest = min(later["book"]) / min(later[side])
            print(
                f"{model:<11} ratio book / {side} (later epochs): median {by_median:.2f},"
                f" fastest {by_fastest:.2f}",
                flush=True,
            )
        results.append(
            {
                "model": model,
                **{f"{side} median (s)": round(median(later[side]), 3) for side in sides},
                **{f"{side} fastest (s)": round(min(later[side]), 3) for side in sides},
                "ratio book / plain, median": round(
                    median(later["book"]) / median(later["plain"]), 3
                ),
                "ratio book / plain, fastest": round(min(later["book"]) / min(later["plain"]), 3),
            }
        )
    if args.json:
        settings = {"epochs": args.epochs, "rounds": args.rounds, "augment": args.augment}
        report = {"settings": settings, "measured_at": time.strftime("%Y-%m-%d"), "models": results}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
