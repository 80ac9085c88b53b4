"""Tests of the model builders."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnistlib.models import MODEL_BUILDERS, build_model, digit_augmentation

# Parameter counts of the architectures as the chapters describe them.
EXPECTED_PARAMETERS = {
    "mlp": 784 * 784 + 784 + 784 * 10 + 10,
    "cnn": (5 * 5 * 32 + 32) + (12 * 12 * 32 * 128 + 128) + (128 * 10 + 10),
    "deeper-cnn": (5 * 5 * 30 + 30)
    + (3 * 3 * 30 * 15 + 15)
    + (5 * 5 * 15 * 128 + 128)
    + (128 * 50 + 50)
    + (50 * 10 + 10),
    # no biases before batch normalisation, which has 4 numbers per channel
    "deeper-cnn-bn": (5 * 5 * 30 + 4 * 30)
    + (3 * 3 * 30 * 15 + 4 * 15)
    + (5 * 5 * 15 * 128 + 4 * 128)
    + (128 * 50 + 4 * 50)
    + (50 * 10 + 10),
    "wide-cnn": (5 * 5 * 32 + 4 * 32)
    + (3 * 3 * 32 * 64 + 4 * 64)
    + (3 * 3 * 64 * 64 + 4 * 64)
    + (3 * 3 * 64 * 128 + 4 * 128)
    + (2 * 2 * 128 * 10 + 10),
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


@pytest.mark.parametrize("name", sorted(MODEL_BUILDERS))
def test_builders_leave_compiling_to_the_caller(name):
    assert getattr(MODEL_BUILDERS[name](), "optimizer", None) is None  # the chapters compile


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet")


def digit_batch() -> np.ndarray:
    images = np.zeros((8, 28, 28, 1), np.float32)
    images[:, 6:22, 12:16, 0] = 1.0  # a bar, like a 1
    return images


def test_augmentation_changes_images_only_while_training():
    images = digit_batch()
    augment = digit_augmentation()
    np.testing.assert_array_equal(np.asarray(augment(images, training=False)), images)
    changed = np.asarray(augment(images, training=True))
    assert changed.shape == images.shape
    assert not np.allclose(changed, images)
    assert not np.allclose(changed[0], changed[1])  # a different change for each image
    assert abs(changed.sum() - images.sum()) < 0.25 * images.sum()  # moved, not erased


@pytest.mark.parametrize("name", sorted(MODEL_BUILDERS))
def test_an_augmented_model_predicts_like_the_plain_one(name):
    plain = build_model(name)
    augmented = build_model(name, augment=True)
    assert augmented.count_params() == plain.count_params()  # augmentation has no weights
    augmented.set_weights(plain.get_weights())
    images = digit_batch()
    np.testing.assert_allclose(
        augmented.predict(images, verbose=0), plain.predict(images, verbose=0), atol=1e-6
    )


def test_a_schedule_reaches_the_optimiser():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 10, 0.5)
    model = build_model("wide-cnn", learning_rate=schedule)
    assert model.optimizer.learning_rate is not None
    assert float(schedule(10)) == pytest.approx(0.005)
