"""Tests of the model builders."""

from __future__ import annotations

import numpy as np
import pytest

from mnistlib.models import MODEL_BUILDERS, build_model

# Parameter counts of the architectures as the chapters describe them.
EXPECTED_PARAMETERS = {
    "mlp": 784 * 784 + 784 + 784 * 10 + 10,
    "cnn": (5 * 5 * 32 + 32) + (12 * 12 * 32 * 128 + 128) + (128 * 10 + 10),
    "deeper-cnn": (5 * 5 * 30 + 30)
    + (3 * 3 * 30 * 15 + 15)
    + (5 * 5 * 15 * 128 + 128)
    + (128 * 50 + 50)
    + (50 * 10 + 10),
}


@pytest.mark.parametrize("name", sorted(MODEL_BUILDERS))
def test_builder_gives_ten_probabilities(name):
    model = build_model(name)
    assert model.count_params() == EXPECTED_PARAMETERS[name]
    probabilities = model.predict(np.zeros((3, 28, 28, 1), np.float32), verbose=0)
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_learning_rate_reaches_the_optimiser():
    model = build_model("mlp", learning_rate=0.01)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet")
