"""Calibration maths on small arrays whose answers are known (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from mnistlib.calibration import (
    expected_calibration_error,
    fit_temperature,
    reliability,
    with_temperature,
)


def answers(confidence: float, right: int, wrong: int) -> tuple[np.ndarray, np.ndarray]:
    """``right + wrong`` answers of digit 0 with ``confidence``; the first ``right`` are right."""
    probabilities = np.full((right + wrong, 10), (1 - confidence) / 9)
    probabilities[:, 0] = confidence
    labels = np.array([0] * right + [1] * wrong)
    return probabilities, labels


def test_a_calibrated_bin_has_no_gap():
    probabilities, labels = answers(0.8, right=8, wrong=2)  # 80 % sure, 80 % right
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)


def test_an_over_confident_bin_has_its_gap():
    probabilities, labels = answers(0.9, right=6, wrong=4)  # 90 % sure, 60 % right
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.3)


def test_bins_are_weighted_by_their_images():
    sure, sure_labels = answers(0.95, right=30, wrong=0)  # gap 0.05, 30 images
    unsure, unsure_labels = answers(0.55, right=5, wrong=5)  # gap 0.05, 10 images
    late, late_labels = answers(0.35, right=10, wrong=0)  # gap 0.65, 10 images
    probabilities = np.concatenate([sure, unsure, late])
    labels = np.concatenate([sure_labels, unsure_labels, late_labels])
    table = reliability(probabilities, labels)
    assert table["images"].tolist() == [10, 10, 30]
    assert table["accuracy"].tolist() == pytest.approx([1.0, 0.5, 1.0])
    expected = (30 * 0.05 + 10 * 0.05 + 10 * 0.65) / 50
    assert expected_calibration_error(probabilities, labels) == pytest.approx(expected)


def test_a_temperature_keeps_the_answer_and_makes_probabilities():
    probabilities = softmax(np.random.default_rng(0).normal(0, 3, (100, 10)), axis=1)
    for temperature in (0.5, 1.0, 2.5):
        tempered = with_temperature(probabilities, temperature)
        assert (tempered.argmax(axis=1) == probabilities.argmax(axis=1)).all()
        np.testing.assert_allclose(tempered.sum(axis=1), 1.0)
    np.testing.assert_allclose(with_temperature(probabilities, 1.0), probabilities, atol=1e-12)
    assert (with_temperature(probabilities, 3.0).max(axis=1) < probabilities.max(axis=1)).all()
    with pytest.raises(ValueError, match="above 0"):
        with_temperature(probabilities, 0.0)


def test_the_fitted_temperature_undoes_a_known_over_confidence():
    """Labels drawn from softmax(z) are calibrated at T = 1; softmax(2z) needs T = 2."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (20_000, 10))
    truth = softmax(logits, axis=1)
    labels = np.array([rng.choice(10, p=p) for p in truth])
    over_confident = softmax(2 * logits, axis=1)
    temperature = fit_temperature(over_confident, labels)
    assert temperature == pytest.approx(2.0, abs=0.1)
    before = expected_calibration_error(over_confident, labels)
    after = expected_calibration_error(with_temperature(over_confident, temperature), labels)
    assert after < 0.02 < before
    assert fit_temperature(truth, labels) == pytest.approx(1.0, abs=0.05)
