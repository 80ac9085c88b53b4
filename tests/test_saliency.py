"""Issue 21: occlusion maps, on models whose decisive pixels are known."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mnistlib.prediction import Predictor
from mnistlib.saliency import occluded_copies, occlusion_map


def corner_model() -> keras.Model:
    """A digit model that looks only at the top-left 8x8 pixels: their ink makes a 1."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Cropping2D(((0, 20), (0, 20))),  # keep rows and columns 0-7
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    weights = np.zeros((64, 10), np.float32)
    weights[:, 1] = 1.0  # ink in the corner raises the 1
    model.layers[-1].set_weights([weights, np.zeros(10, np.float32)])
    return model


def test_copies_cover_one_square_each():
    image = np.ones((28, 28), np.float32)
    copies = occluded_copies(image, patch=4, stride=2)
    assert copies.shape == (13 * 13, 28, 28)
    assert np.all((copies == 0).sum(axis=(1, 2)) == 16)
    assert copies[0, :4, :4].max() == 0 and copies[0, 4:, :].min() == 1
    assert copies[-1, 24:, 24:].max() == 0
    assert image.min() == 1  # the picture itself is untouched


def test_only_the_pixels_the_model_looks_at_matter():
    reader = Predictor(corner_model())
    image = np.zeros((28, 28), np.float32)
    image[2:6, 2:6] = 1.0  # ink in the corner
    image[15:25, 15:25] = 1.0  # and far from it: the model never sees this
    saliency = occlusion_map(reader.probabilities, image, digit=1)
    assert saliency.shape == (28, 28)
    assert saliency[2:6, 2:6].min() > 0.01  # covering the corner's ink lowers the 1
    # squares that start at row or column 6 reach pixel 7: only pixels from 10 on are never
    # covered together with the corner
    assert np.abs(saliency[10:, :]).max() == 0 and np.abs(saliency[:, 10:]).max() == 0
    assert saliency[15:25, 15:25].max() == 0  # the far ink does not matter at all


def test_a_blank_region_does_not_matter_and_the_map_is_in_probability_units():
    reader = Predictor(corner_model())
    image = np.zeros((28, 28), np.float32)
    image[2:6, 2:6] = 1.0
    before = reader.probabilities(image[np.newaxis])[0, 1]
    saliency = occlusion_map(reader.probabilities, image, digit=1)
    assert saliency.max() <= before  # no square can lower it below 0
    assert saliency[0, 7] == pytest.approx(saliency[7, 0], abs=1e-6)  # the model is symmetric
