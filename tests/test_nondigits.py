"""The drawn non-digits of the "not a digit" section (issue 21)."""

from __future__ import annotations

import numpy as np

from mnistlib.models import build_digit_detector
from mnistlib.nondigits import (
    HELD_OUT_FONTS,
    KINDS,
    LETTERS,
    TRAINING_FONTS,
    _font_path,
    non_digit_pictures,
    non_digits,
)


def test_the_fonts_ship_with_matplotlib_and_the_two_sets_are_apart():
    for name in TRAINING_FONTS + HELD_OUT_FONTS:
        assert _font_path(name).is_file(), name
    assert not set(TRAINING_FONTS) & set(HELD_OUT_FONTS)


def test_no_letter_looks_like_a_digit():
    assert not set(LETTERS) & set("OoDQIilLJjSsZzBbgqGT|")


def test_the_pictures_are_repeatable_and_take_turns():
    first, kinds = non_digit_pictures(9, seed=3)
    again, _ = non_digit_pictures(9, seed=3)
    other, _ = non_digit_pictures(9, seed=4)
    assert kinds == list(KINDS) * 3
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    for picture in first:  # dark ink on a light sheet, as the pipeline judges it: by the border
        border = np.concatenate([picture[0], picture[-1], picture[:, 0], picture[:, -1]])
        assert picture.min() < 0.2 and np.median(border) == 1.0


def test_non_digits_are_prepared_like_a_readers_picture():
    inputs, kinds = non_digits(6, seed=0, fonts=HELD_OUT_FONTS)
    assert inputs.shape == (6, 28, 28, 1) and inputs.dtype == np.float32
    assert inputs.min() >= 0 and inputs.max() <= 1 and list(kinds) == list(KINDS) * 2
    for image in inputs[..., 0]:  # the pipeline's 20-pixel box inside the 28x28 field
        rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 22


def test_the_detector_gives_one_probability_per_picture():
    detector = build_digit_detector()
    answers = detector.predict(np.zeros((3, 28, 28, 1), np.float32), verbose=0)
    assert answers.shape == (3, 1) and ((answers >= 0) & (answers <= 1)).all()
