"""Tests of the perturbations, the robustness table and the ensemble average."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mnistlib.evaluation import ensemble_probabilities
from mnistlib.robustness import (
    PERTURBATIONS,
    add_noise,
    robustness_table,
    rotate_digits,
    shift_digits,
)


def bars() -> np.ndarray:
    images = np.zeros((4, 28, 28, 1), np.float32)
    images[:, 6:22, 11:15, 0] = 1.0
    images[1, 6:10, 11:20, 0] = 1.0  # a 7-ish second image
    return images


def test_zero_changes_nothing():
    images = bars()
    for perturb, _, _ in PERTURBATIONS.values():
        np.testing.assert_allclose(perturb(images, 0), images, atol=1e-6)


def test_shift_moves_the_centre_of_mass():
    images = bars()
    before = ndimage.center_of_mass(images[0, ..., 0])
    after = ndimage.center_of_mass(shift_digits(images, 3)[0, ..., 0])
    np.testing.assert_allclose(np.subtract(after, before), (3, 3), atol=1e-6)


def test_rotation_by_a_right_angle_is_exact():
    images = bars()
    np.testing.assert_allclose(rotate_digits(images, 90), np.rot90(images, axes=(1, 2)), atol=1e-5)


def test_noise_is_seeded_bounded_and_of_the_asked_size():
    images = np.full((50, 28, 28, 1), 0.5, np.float32)
    noisy = add_noise(images, 0.1, seed=3)
    np.testing.assert_array_equal(noisy, add_noise(images, 0.1, seed=3))
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert np.std(noisy - images) == pytest.approx(0.1, rel=0.05)


class Constant:
    """A stand-in model that always gives the same probabilities."""

    def __init__(self, probabilities: np.ndarray) -> None:
        self.probabilities = np.asarray(probabilities, np.float32)

    def predict(self, images: np.ndarray, **_: object) -> np.ndarray:
        return np.tile(self.probabilities, (len(images), 1))


def test_robustness_table_has_a_row_per_perturbation_amount_and_model():
    always_3 = Constant(np.eye(10)[3])
    labels = np.array([3, 3, 1, 2])
    table = robustness_table({"a": always_3, "b": always_3}, bars(), labels)
    expected_rows = 2 * sum(len(amounts) for _, amounts, _ in PERTURBATIONS.values())
    assert len(table) == expected_rows
    assert (table["accuracy (%)"] == 50.0).all()


def test_ensemble_averages_probabilities():
    first, second = Constant(np.eye(10)[1]), Constant(np.eye(10)[2] * 0.5 + np.eye(10)[1] * 0.5)
    average = ensemble_probabilities([first, second], bars())
    np.testing.assert_allclose(average[0, 1], 0.75)
    np.testing.assert_allclose(average[0, 2], 0.25)
    np.testing.assert_allclose(average.sum(axis=1), 1.0)
