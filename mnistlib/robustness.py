"""Test digits moved, turned and noised by known amounts, and accuracy on them.

Each perturbation takes a batch of images (N x 28 x 28 x 1, values in [0, 1])
and an amount, and returns a new batch; SciPy's ``ndimage`` does the geometry
(linear interpolation, uncovered paper filled with 0, no ink).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    import keras
    import pandas as pd

__all__ = ["PERTURBATIONS", "add_noise", "robustness_table", "rotate_digits", "shift_digits"]


def shift_digits(images: np.ndarray, pixels: float) -> np.ndarray:
    """Move every digit ``pixels`` to the right and ``pixels`` down."""
    return ndimage.shift(images, (0, pixels, pixels, 0), order=1, mode="constant", cval=0.0)


def rotate_digits(images: np.ndarray, degrees: float) -> np.ndarray:
    """Turn every digit ``degrees`` anticlockwise about the image centre."""
    return np.clip(
        ndimage.rotate(images, degrees, axes=(1, 2), reshape=False, order=1, cval=0.0), 0.0, 1.0
    )


def add_noise(images: np.ndarray, std: float, seed: int = 0) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``std`` (seeded), clipped to [0, 1]."""
    noise = np.random.default_rng(seed).normal(0.0, std, images.shape).astype(images.dtype)
    return np.clip(images + noise, 0.0, 1.0)


Perturbation = Callable[[np.ndarray, float], np.ndarray]

#: name -> (function, amounts tried, unit of the amounts)
PERTURBATIONS: dict[str, tuple[Perturbation, Sequence[float], str]] = {
    "shift": (shift_digits, (0, 1, 2, 3, 4, 5), "pixels right and down"),
    "rotation": (rotate_digits, (0, 5, 10, 15, 20, 25, 30, 40), "degrees"),
    "noise": (add_noise, (0.0, 0.1, 0.2, 0.3, 0.4, 0.5), "standard deviation"),
}


def robustness_table(
    models: Mapping[str, keras.Model], images: np.ndarray, labels: np.ndarray
) -> pd.DataFrame:
    """Accuracy of each model on ``images`` under every perturbation and amount.

    Returns one row per (perturbation, amount, model) with the accuracy in %.
    """
    import pandas as pd

    rows = []
    for name, (perturb, amounts, unit) in PERTURBATIONS.items():
        for amount in amounts:
            changed = perturb(images, amount)
            for model_name, model in models.items():
                predicted = model.predict(changed, batch_size=1000, verbose=0).argmax(axis=1)
                accuracy = 100 * float(np.mean(predicted == labels))
                rows.append((name, unit, amount, model_name, accuracy))
    return pd.DataFrame(rows, columns=["perturbation", "unit", "amount", "model", "accuracy (%)"])
