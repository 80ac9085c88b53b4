"""Measure trained models: accuracy, confusion, per-digit scores, mistakes, speed.

The scores come from scikit-learn's ``sklearn.metrics``, the reference
implementation of each (``confusion_matrix``, ``classification_report``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras
    import pandas as pd

    from mnistlib.training import TrainedModel

__all__ = [
    "comparison_table",
    "confused_pairs",
    "confusion",
    "ensemble_probabilities",
    "mistakes",
    "per_digit_report",
    "seconds_per_call",
]


def comparison_table(models: Mapping[str, TrainedModel]) -> pd.DataFrame:
    """One row per model: test accuracy and error (%), weights, epochs, training time.

    "training images" counts the images of the final fit (all 60,000 for a
    model refitted after its validation run); "best epoch" is the one whose
    weights the model kept (a refit trains for exactly that many epochs),
    and the time is that of the whole run on the machine that trained it.
    A table to read: the counts are text with thousands separators ("623,290").
    """
    import pandas as pd

    rows = []
    for name, trained in models.items():
        rows.append(
            {
                "model": name,
                "test accuracy (%)": round(100 * trained.test_accuracy, 2),
                "test error (%)": round(100 * (1 - trained.test_accuracy), 2),
                "weights": f"{trained.parameters:,}",
                "training images": f"{_training_images(trained):,}",
                "epochs": trained.config.epochs,
                "best epoch": trained.best_epoch,
                "training time": f"{trained.train_seconds:.1f} s",
            }
        )
    return pd.DataFrame(rows).set_index("model")


def _training_images(trained: TrainedModel) -> int:
    """The images of a model's final fit: all of them for a refit, else the fit split."""
    return trained.refit.images if trained.refit else len(trained.data.x_fit)


def ensemble_probabilities(models: Sequence[keras.Model], images: np.ndarray) -> np.ndarray:
    """The average of the models' predicted probabilities: an ensemble's answer."""
    predictions = [model.predict(images, batch_size=1000, verbose=0) for model in models]
    return np.mean(predictions, axis=0)


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """10x10 counts: row = true digit, column = predicted digit."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(10)))


def per_digit_report(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and support of each digit (scikit-learn's report)."""
    import pandas as pd
    from sklearn.metrics import classification_report

    report = classification_report(
        y_true, y_pred, labels=list(range(10)), output_dict=True, zero_division=0
    )
    table = pd.DataFrame(report).T
    table.index = [str(i) for i in range(10)] + list(table.index[10:])
    table = table.round(4)
    table["support"] = [f"{int(n):,}" for n in table["support"]]  # 10,000, not 10000
    return table


def confused_pairs(matrix: np.ndarray, top: int = 5) -> list[tuple[int, int, int]]:
    """The ``top`` most frequent mistakes as (true digit, predicted digit, count)."""
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    order = np.argsort(off_diagonal, axis=None, kind="stable")[::-1][:top]
    pairs = [
        (int(t), int(p), int(off_diagonal[t, p]))
        for t, p in zip(*np.unravel_index(order, matrix.shape), strict=True)
    ]
    return [pair for pair in pairs if pair[2] > 0]


def mistakes(y_true: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Indices of the misread images, the most confidently wrong first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    return wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")]


def seconds_per_call(function: Callable[[], object], repeats: int = 50) -> float:
    """Median wall-clock seconds of ``function()`` over ``repeats`` calls, after one warm-up."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
