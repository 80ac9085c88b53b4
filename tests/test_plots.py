"""The book's figures fit its page and their text stays readable there.

The page shows a figure at most about 690 CSS pixels wide and scales a wider
one down, its titles with it. So every figure is at most ``PAGE_WIDTH``
inches wide, every text in it is at least 9 points (12 CSS pixels at the
book's 96 dpi), and titles side by side in a grid do not run into each other.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")  # no window: the figures are only measured

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from mnistlib import plots
from mnistlib.calibration import reliability
from mnistlib.images import preprocess

GAP = 6  # pixels between two titles side by side
RNG = np.random.default_rng(0)
DIGITS = RNG.random((30, 28, 28))
LABELS = np.arange(30) % 10
PROBABILITIES = RNG.dirichlet(np.ones(10) * 0.1, size=30)
HISTORY = {
    key: list(RNG.random(12))
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate")
}
PHOTO = np.ones((300, 400))
PHOTO[100:220, 180:200] = 0.1  # a dark stroke on light paper

FIGURES: dict[str, Callable[[], Figure]] = {
    "digits, 30 titled, 6 a row": lambda: plots.plot_digits(
        DIGITS, [f"{t} → {t} (99%)" for t in LABELS], ncols=6
    ),
    "digits, 10 a row": lambda: plots.plot_digits(DIGITS[:10], [f"{t} (100%)" for t in LABELS]),
    "mistakes": lambda: plots.plot_mistakes(DIGITS, LABELS, PROBABILITIES),
    "digit grid": lambda: plots.plot_digit_grid(DIGITS.repeat(12, axis=0), LABELS.repeat(12), 12),
    "mean digits": lambda: plots.plot_mean_digits(DIGITS, LABELS),
    "class balance": lambda: plots.plot_class_balance(LABELS, LABELS),
    "history": lambda: plots.plot_history(HISTORY, "a model"),
    "prediction grid": lambda: plots.plot_prediction_grid(DIGITS, LABELS, LABELS[::-1]),
    "confidence": lambda: plots.plot_confidence(RNG.random(50), RNG.random(20)),
    "pictures": lambda: plots.plot_pictures([PHOTO] * 10, ["7-03.jpg\n400x300"] * 10, ncols=5),
    "steps": lambda: plots.plot_steps(preprocess(PHOTO)),
    "weights as pictures": lambda: plots.plot_filters(
        RNG.standard_normal((28, 28, 1, 10)), ncols=5, titles=list("0123456789"), size=1.4
    ),
    "sliding window": lambda: plots.plot_sliding_window(
        DIGITS[0], RNG.random((24, 24)), [(0, 0), (4, 10), (12, 6), (23, 23)]
    ),
    "pooling": lambda: plots.plot_pooling(RNG.random((24, 24)), RNG.random((12, 12))),
    "saliency": lambda: plots.plot_saliency(
        DIGITS[:8], RNG.standard_normal((8, 28, 28)) / 10, [f"{t} read as {t}" for t in LABELS[:8]]
    ),
    "projection with mistakes": lambda: plots.plot_projection(
        RNG.standard_normal((300, 2)), np.arange(300) % 10, "a map", marked=RNG.random(300) < 0.1
    ),
    "reliability": lambda: plots.plot_reliability(
        {
            f"{name}: ECE 12.34 %": reliability(PROBABILITIES, LABELS)
            for name in ("before", "after T = 1.23")
        }
    ),
    "robustness": lambda: plots.plot_robustness(
        pd.DataFrame(
            {
                "model": ["a", "b"] * 9,
                "perturbation": ["rotation"] * 6 + ["shift"] * 6 + ["noise"] * 6,
                "amount": [0, 0, 15, 15, 30, 30] * 3,
                "accuracy (%)": RNG.uniform(50, 100, 18),
                "unit": ["degrees"] * 6 + ["pixels"] * 6 + ["noise"] * 6,
            }
        )
    ),
}


def visible_texts(fig: Figure) -> list[Text]:
    """Every text drawn in ``fig``: titles, labels, tick labels, legends."""
    return [
        text
        for text in fig.findobj(Text)
        if text.get_visible() and text.get_text().strip() and text.axes is not None
    ]


@pytest.fixture(autouse=True)
def book_style():
    plots.use_book_style()
    yield
    plt.close("all")


@pytest.mark.parametrize("name", FIGURES)
def test_figure_fits_the_page(name: str) -> None:
    fig = FIGURES[name]()
    assert fig.get_figwidth() <= plots.PAGE_WIDTH + 1e-9, fig.get_figwidth()


@pytest.mark.parametrize("name", FIGURES)
def test_text_is_at_least_nine_points(name: str) -> None:
    fig = FIGURES[name]()
    small = {t.get_text(): t.get_fontsize() for t in visible_texts(fig) if t.get_fontsize() < 9}
    assert not small, small


@pytest.mark.parametrize(
    "name",
    ["digits, 30 titled, 6 a row", "mistakes", "pictures", "steps", "sliding window", "saliency"],
)
def test_titles_side_by_side_do_not_overlap(name: str) -> None:
    fig = FIGURES[name]()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    titles = [ax.title for ax in fig.axes if ax.title.get_text()]
    boxes = [title.get_window_extent(renderer) for title in titles]
    for first, second in itertools.pairwise(boxes):
        same_row = abs(first.y0 - second.y0) < 1
        if same_row:
            assert first.x1 + GAP <= second.x0, (first, second)


def test_a_wide_figure_is_narrowed_to_the_page() -> None:
    assert plots._page_size(14.4, 3.0) == (plots.PAGE_WIDTH, 1.5)
    assert plots._page_size(14.4, 3.0, keep_aspect=False) == (plots.PAGE_WIDTH, 3.0)
    assert plots._page_size(5.0, 3.0) == (5.0, 3.0)


def test_digits_are_drawn_dark_on_light() -> None:
    fig = plots.plot_digits(DIGITS[:1])
    image = fig.axes[0].images[0]
    assert image.get_cmap().name == plots.DIGIT_CMAP == "gray_r"
    steps = plots.plot_steps(preprocess(PHOTO))
    assert [ax.images[0].get_cmap().name for ax in steps.axes[1:]] == ["gray_r"] * 4
