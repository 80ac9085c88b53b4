"""Is a probability of 90 % right 90 % of the time? Calibration, measured and corrected.

A model's **confidence** is the probability it gives its answer. It is
*calibrated* when, among the answers given with about 90 % confidence, about
90 % are right. :func:`reliability` groups answers by confidence and compares
the two (the points of a reliability diagram, by scikit-learn's
``calibration_curve``); :func:`expected_calibration_error` sums the gaps.

**Temperature scaling** (Guo et al., 2017) corrects an over-confident model
with one number, the temperature :math:`T`: each probability becomes
:math:`p_i^{1/T}`, and the ten are scaled to add up to 1 again (a softmax of
the logits divided by :math:`T`). :math:`T > 1` softens the answers,
:math:`T < 1` sharpens them; the most probable digit never changes, so the
accuracy does not either. :func:`fit_temperature` chooses :math:`T` on
held-out data (the validation split, never the test set).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import log_softmax, softmax

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BINS",
    "TEMPERATURES",
    "expected_calibration_error",
    "fit_temperature",
    "reliability",
    "with_temperature",
]

#: Equal-width confidence bins, as Guo et al. (2017) use.
BINS = 15
#: The smallest probability taken as is; a float32 softmax can round tinier ones to 0.
SMALLEST = 1e-30
#: The temperatures :func:`fit_temperature` searches (any other is taken as damage).
TEMPERATURES = (0.05, 20.0)


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS) -> pd.DataFrame:
    """Answers grouped by confidence: per bin, the images, their mean confidence and accuracy.

    ``probabilities`` is (n, 10), ``labels`` the n true digits. Bins are equal
    slices of [0, 1]; empty bins are left out.
    """
    import pandas as pd  # imported here, not above: reading one digit needs neither
    from sklearn.calibration import calibration_curve

    confidence = np.clip(probabilities.max(axis=1), 0.0, 1.0)  # float32 sums may pass 1
    correct = (probabilities.argmax(axis=1) == labels).astype(int)
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    bin_of_each = np.searchsorted(edges[1:-1], confidence)  # as calibration_curve bins them
    counts = np.bincount(bin_of_each, minlength=bins)
    filled = counts > 0  # calibration_curve's bins, in the same order
    return pd.DataFrame(
        {
            "from": edges[:-1][filled],
            "to": edges[1:][filled],
            "images": counts[filled],
            "confidence": mean_confidence,
            "accuracy": accuracy,
        }
    )


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = BINS
) -> float:
    """The gap between confidence and accuracy, averaged over the bins weighted by their images."""
    table = reliability(probabilities, labels, bins)
    gaps = (table["confidence"] - table["accuracy"]).abs()
    return float(np.sum(gaps * table["images"]) / table["images"].sum())


def with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """The probabilities a temperature gives: a softmax of ``log p / T`` (the logits over T)."""
    if not temperature > 0:
        raise ValueError(f"a temperature must be above 0, not {temperature}")
    return softmax(_log_probabilities(probabilities) / temperature, axis=1)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that makes ``probabilities`` most likely to give ``labels``.

    It minimises the mean cross-entropy (negative log-likelihood) of the
    tempered probabilities, a one-number search over :data:`TEMPERATURES`.
    """
    from scipy.optimize import minimize_scalar

    log_p = _log_probabilities(probabilities)
    rows = np.arange(len(labels))

    def cross_entropy(temperature: float) -> float:
        return float(-np.mean(log_softmax(log_p / temperature, axis=1)[rows, labels]))

    return float(minimize_scalar(cross_entropy, bounds=TEMPERATURES, method="bounded").x)


def _log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """``log p``: the logits minus one number shared by the ten, so the softmax gives the same."""
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), SMALLEST, 1.0))
