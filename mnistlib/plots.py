"""Figures of the book, in one consistent style.

Every function draws on a Matplotlib figure and returns it, so a notebook
shows it and a script can save it. Figures have an opaque white background
so that they stay legible in the book's dark mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "plot_class_balance",
    "plot_comparison",
    "plot_confidence",
    "plot_confusion_matrix",
    "plot_digit_grid",
    "plot_digits",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_learning_rate",
    "plot_mean_digits",
    "plot_mistakes",
    "plot_pictures",
    "plot_pixel_histogram",
    "plot_pooling",
    "plot_prediction_grid",
    "plot_projection",
    "plot_reliability",
    "plot_robustness",
    "plot_sliding_window",
    "plot_steps",
    "use_book_style",
]

#: How the book draws a digit: dark ink on light paper, as a reader writes one.
#: (The numbers are the other way round: MNIST stores ink as high values.)
DIGIT_CMAP = "gray_r"

#: The widest figure, in inches, that the book's page shows at full size: its
#: text column is about 690 CSS pixels, 7.2 inches at the figures' 96 dpi. A
#: wider figure would be scaled down, and its titles with it.
PAGE_WIDTH = 7.2


def use_book_style() -> None:
    """Seaborn's clean theme, opaque white figures and a resolution fit for the page."""
    sns.set_theme(context="notebook", style="whitegrid")
    plt.rcParams.update(
        {
            "figure.dpi": 96,
            "savefig.dpi": 96,
            "figure.facecolor": "white",
            "savefig.facecolor": "white",
            "figure.autolayout": False,
        }
    )


def _page_size(width: float, height: float, keep_aspect: bool = True) -> tuple[float, float]:
    """``(width, height)`` in inches, no wider than the page.

    Pictures keep their aspect; charts (``keep_aspect=False``) keep their height.
    """
    scale = min(1.0, PAGE_WIDTH / width)
    return width * scale, height * scale if keep_aspect else height


def _hide_axes(axes: np.ndarray) -> None:
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)


def _image_grid(
    pictures: Sequence[np.ndarray],
    ncols: int,
    cell: tuple[float, float],
    titles: Sequence[str] | None = None,
    fontsize: int = 10,
    **imshow: object,
) -> Figure:
    """Pictures in rows of ``ncols`` cells of ``cell`` inches, empty cells hidden."""
    nrows = -(-len(pictures) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=_page_size(ncols * cell[0], nrows * cell[1]), squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        if index < len(pictures):
            ax.imshow(pictures[index], **imshow)
            if titles is not None:
                ax.set_title(titles[index], fontsize=fontsize)
        else:
            ax.set_axis_off()
    _hide_axes(axes)
    return fig


def plot_digits(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    size: float = 1.3,
) -> Figure:
    """Show images side by side in rows of ``ncols``, each with an optional title."""
    fig = _image_grid(
        images,
        ncols,
        (size, size * 1.15),
        titles,
        cmap=DIGIT_CMAP,
        vmin=0,
        vmax=images.max() or 1,
    )
    fig.tight_layout()
    return fig


def plot_digit_grid(
    images: np.ndarray, labels: np.ndarray, per_digit: int = 10, seed: int = 0
) -> Figure:
    """One row per digit 0-9, with ``per_digit`` random examples of it."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(10, per_digit, figsize=_page_size(per_digit * 0.8, 10 * 0.8))
    for digit in range(10):
        chosen = rng.choice(np.flatnonzero(labels == digit), size=per_digit, replace=False)
        for ax, index in zip(axes[digit], chosen, strict=True):
            ax.imshow(images[index], cmap=DIGIT_CMAP)
        axes[digit, 0].set_ylabel(str(digit), rotation=0, labelpad=12, fontsize=12, va="center")
    _hide_axes(axes)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def plot_class_balance(y_train: np.ndarray, y_test: np.ndarray) -> Figure:
    """Share of each digit in the training and the test set, as grouped bars."""
    shares = [100 * np.bincount(y, minlength=10) / len(y) for y in (y_train, y_test)]
    table = {
        "digit": list(range(10)) * 2,
        "share of the set (%)": np.concatenate(shares),
        "set": ["training"] * 10 + ["test"] * 10,
    }
    fig, ax = plt.subplots(figsize=_page_size(9, 3.4, keep_aspect=False))
    sns.barplot(data=table, x="digit", y="share of the set (%)", hue="set", ax=ax)
    ax.axhline(10, color="black", linewidth=1, linestyle="--")
    ax.text(9.6, 10.1, "perfect balance", ha="right", va="bottom", fontsize=9)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), title="set")
    fig.tight_layout()
    return fig


def plot_mean_digits(images: np.ndarray, labels: np.ndarray) -> Figure:
    """The average image of each digit: where its ink usually falls."""
    means = np.stack([images[labels == digit].mean(axis=0) for digit in range(10)])
    return plot_digits(means, titles=[f"mean {d}" for d in range(10)], ncols=10)


def plot_pixel_histogram(images: np.ndarray) -> Figure:
    """Histogram of all pixel values, on a log scale since most pixels are 0."""
    counts = np.bincount(images.ravel(), minlength=256)
    fig, ax = plt.subplots(figsize=_page_size(8, 3.2, keep_aspect=False))
    ax.bar(np.arange(256), counts, width=1.0, color=sns.color_palette()[0])
    ax.set_yscale("log")
    ax.set_xlim(-1, 256)
    ax.set_xlabel("pixel value (0 = background, 255 = full ink)")
    ax.set_ylabel("number of pixels (log scale)")
    fig.tight_layout()
    return fig


def plot_projection(
    points: np.ndarray, labels: np.ndarray, title: str, marked: np.ndarray | None = None
) -> Figure:
    """Scatter 2-D points coloured by digit, with each digit's name at its centre; the
    points where ``marked`` is true (such as mistakes) get a black cross."""
    fig, ax = plt.subplots(figsize=_page_size(7, 6))
    palette = sns.color_palette("tab10", 10)
    for digit in range(10):
        mine = points[labels == digit]
        ax.scatter(
            mine[:, 0],
            mine[:, 1],
            s=4,
            alpha=0.5,
            color=palette[digit],
            label=str(digit),
            rasterized=True,
        )
        centre = np.median(mine, axis=0)
        ax.text(
            *centre,
            str(digit),
            fontsize=16,
            weight="bold",
            ha="center",
            va="center",
            bbox={
                "boxstyle": "circle",
                "facecolor": "white",
                "alpha": 0.8,
                "edgecolor": palette[digit],
            },
        )
    if marked is not None:
        ax.scatter(*points[marked].T, s=14, marker="x", color="black", linewidths=0.8,
                   label="mistake", rasterized=True)  # fmt: skip
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(title="digit", markerscale=4, loc="center left", bbox_to_anchor=(1, 0.5))
    fig.tight_layout()
    return fig


def plot_history(history: dict[str, list[float]], title: str = "") -> Figure:
    """Learning curves: loss and accuracy per epoch, on training and validation data.

    ``history`` is Keras's ``History.history``; a run without validation data
    has only the training curves.
    """
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=_page_size(10, 3.6, keep_aspect=False))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, history[metric], "o-", label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_xticks(epochs if len(epochs) <= 15 else epochs[::2])
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_comparison(names: Sequence[str], accuracies: Sequence[float]) -> Figure:
    """Horizontal bars of test error (%), the smaller the better, one per model."""
    errors = [100 * (1 - a) for a in accuracies]
    fig, ax = plt.subplots(figsize=_page_size(7, 0.6 * len(names) + 1))
    bars = ax.barh(list(names), errors, color=sns.color_palette()[: len(names)])
    ax.bar_label(bars, labels=[f"{e:.2f} %" for e in errors], padding=3)
    ax.invert_yaxis()
    ax.set_xlabel("test error (%): the share of the 10,000 test digits misread")
    ax.set_xlim(0, max(errors) * 1.25)
    fig.tight_layout()
    return fig


def plot_filters(
    kernels: np.ndarray, ncols: int = 8, titles: Sequence[str] | None = None, size: float = 0.9
) -> Figure:
    """Learnt weights as pictures, red positive and blue negative, shape (h, w, 1, n).

    The filters of a first convolution layer, or any weights laid out like an image.
    """
    filters = np.moveaxis(kernels[:, :, 0, :], -1, 0)
    limit = float(np.abs(filters).max())
    fig = _image_grid(filters, ncols, (size, size), titles, cmap="RdBu_r", vmin=-limit, vmax=limit)
    if titles is None:
        fig.subplots_adjust(wspace=0.1, hspace=0.1)
    else:
        fig.tight_layout()
    return fig


def plot_feature_maps(maps: np.ndarray, image: np.ndarray, ncols: int = 8) -> Figure:
    """An input image, then what each filter of a layer made of it (maps: h, w, n)."""
    count = maps.shape[-1]
    nrows = -(-count // ncols)
    fig = plt.figure(figsize=_page_size(ncols * 0.9 + 2.2, nrows * 0.9))
    grid = fig.add_gridspec(nrows, ncols + 2)
    ax = fig.add_subplot(grid[: min(nrows, 2), :2])
    ax.imshow(image, cmap=DIGIT_CMAP)
    ax.set_title("input", fontsize=10)
    _hide_axes(np.array([ax]))
    for index in range(count):
        ax = fig.add_subplot(grid[index // ncols, 2 + index % ncols])
        ax.imshow(maps[:, :, index], cmap="magma")
        _hide_axes(np.array([ax]))
    fig.subplots_adjust(wspace=0.1, hspace=0.1)
    return fig


def plot_sliding_window(
    image: np.ndarray, feature_map: np.ndarray, positions: Sequence[tuple[int, int]]
) -> Figure:
    """A filter's window sliding over ``image``, and the feature map filled so far.

    One column per position (row, column of the window's top-left pixel): the
    image with the window outlined, and below it the map up to that position.
    """
    side = image.shape[0] - feature_map.shape[0] + 1  # the filter's size
    fig, axes = plt.subplots(
        2, len(positions), figsize=_page_size(1.6 * len(positions), 3.4), squeeze=False
    )
    order = np.arange(feature_map.size).reshape(feature_map.shape)
    for column, (row, col) in enumerate(positions):
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(image, cmap=DIGIT_CMAP)
        top.add_patch(
            plt.Rectangle((col - 0.5, row - 0.5), side, side, fill=False, color="crimson", lw=2)
        )
        top.set_title(f"window at ({row}, {col})", fontsize=9)
        done = np.where(order <= row * feature_map.shape[1] + col, feature_map, np.nan)
        bottom.imshow(done, cmap="magma", vmin=0, vmax=float(np.nanmax(feature_map)) or 1)
        bottom.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, color="crimson"))
        bottom.set_title("map so far", fontsize=9)
    _hide_axes(axes)
    fig.tight_layout()
    return fig


def plot_pooling(feature_map: np.ndarray, pooled: np.ndarray) -> Figure:
    """A feature map beside its max-pooled version, the pooling blocks outlined."""
    fig, axes = plt.subplots(1, 2, figsize=_page_size(6, 3.2))
    block = feature_map.shape[0] // pooled.shape[0]
    top = float(feature_map.max()) or 1
    for ax, picture, title in (
        (axes[0], feature_map, f"feature map {feature_map.shape[0]}x{feature_map.shape[1]}"),
        (axes[1], pooled, f"max-pooled {pooled.shape[0]}x{pooled.shape[1]}"),
    ):
        ax.imshow(picture, cmap="magma", vmin=0, vmax=top)
        ax.set_title(title, fontsize=10)
    for edge in np.arange(block, feature_map.shape[0], block) - 0.5:
        axes[0].axhline(edge, color="white", lw=0.5)
        axes[0].axvline(edge, color="white", lw=0.5)
    _hide_axes(axes)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix: np.ndarray) -> Figure:
    """Seaborn heatmap of a 10x10 confusion matrix; the diagonal (right answers) greyed out."""
    fig, ax = plt.subplots(figsize=_page_size(7.5, 6.2))
    off_diagonal = matrix.astype(float).copy()
    np.fill_diagonal(off_diagonal, np.nan)
    sns.heatmap(
        off_diagonal,
        annot=matrix,
        fmt="d",
        cmap="Reds",
        cbar_kws={"label": "mistakes"},
        linewidths=0.5,
        linecolor="white",
        ax=ax,
        annot_kws={"fontsize": 9},
    )
    for digit in range(10):
        ax.add_patch(plt.Rectangle((digit, digit), 1, 1, color="#dddddd", zorder=0))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    fig.tight_layout()
    return fig


def plot_mistakes(
    images: np.ndarray, true: np.ndarray, probabilities: np.ndarray, ncols: int = 8
) -> Figure:
    """Misread digits, each titled 'true → predicted (probability)'."""
    predicted = probabilities.argmax(axis=1)
    titles = [
        f"{t} → {p} ({probabilities[i, p]:.0%})"
        for i, (t, p) in enumerate(zip(true, predicted, strict=True))
    ]
    return plot_digits(images, titles=titles, ncols=ncols, size=1.5)


def plot_prediction_grid(
    images: np.ndarray, true: np.ndarray, predicted: np.ndarray, nrows: int = 3, ncols: int = 5
) -> Figure:
    """A grid of digits titled 'predicted (true)', red where they differ."""
    fig, axes = plt.subplots(nrows, ncols, figsize=_page_size(ncols * 1.6, nrows * 1.8))
    for ax, image, t, p in zip(axes.flat, images, true, predicted, strict=False):
        ax.imshow(image, cmap=DIGIT_CMAP)
        ax.set_title(
            f"predicted {p}\n(true {t})", fontsize=10, color="black" if p == t else "crimson"
        )
    _hide_axes(axes)
    fig.tight_layout()
    return fig


def plot_confidence(right: np.ndarray, wrong: np.ndarray) -> Figure:
    """Histograms of the model's probability for its answer, right and wrong answers apart."""
    fig, axes = plt.subplots(1, 2, figsize=_page_size(10, 3.4, keep_aspect=False))
    bins = np.linspace(0, 1, 21)
    for ax, values, name, colour in ((axes[0], right, "right", 0), (axes[1], wrong, "wrong", 3)):
        ax.hist(values, bins=bins, color=sns.color_palette()[colour])
        ax.set_yscale("log")
        ax.set_title(f"{len(values):,} {name} answers")
        ax.set_xlabel("probability the model gave its answer")
        ax.set_ylabel("answers (log scale)")
    fig.tight_layout()
    return fig


def plot_reliability(tables: dict[str, pd.DataFrame]) -> Figure:
    """Reliability diagrams, one per titled table of :func:`mnistlib.calibration.reliability`.

    Each bar is a confidence bin, as high as the share of right answers in it;
    a calibrated model's bars reach the diagonal. Red marks the gap.
    """
    fig, axes = plt.subplots(
        1, len(tables), figsize=_page_size(5 * len(tables), 4.8), squeeze=False
    )
    for ax, (title, table) in zip(axes[0], tables.items(), strict=True):
        width = table["to"] - table["from"]
        ax.bar(table["from"], table["accuracy"], width=width, align="edge",
               color=sns.color_palette()[0], edgecolor="white", label="accuracy")  # fmt: skip
        ax.bar(table["from"], table["confidence"] - table["accuracy"], width=width,
               bottom=table["accuracy"], align="edge", color=sns.color_palette()[3],
               alpha=0.5, label="gap to the confidence")  # fmt: skip
        ax.plot([0, 1], [0, 1], color="black", linestyle="--", linewidth=1, label="calibrated")
        ax.set(xlim=(0, 1), ylim=(0, 1), title=title, xlabel="confidence (bin)")
        ax.set_ylabel("share of right answers")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))  # room for the legend below
    return fig


def plot_saliency(images: np.ndarray, maps: np.ndarray, titles: Sequence[str]) -> Figure:
    """Digits (top row) and their occlusion maps (below): red where covering the picture
    lowers the answer's probability, blue where it raises it. Each map has its own
    colour scale; under it, its largest fall in percentage points."""
    fig, axes = plt.subplots(2, len(images), figsize=_page_size(1.5 * len(images), 3.8))
    for column, (image, saliency, title) in enumerate(zip(images, maps, titles, strict=True)):
        limit = float(np.abs(saliency).max()) or 1.0
        axes[0, column].imshow(image, cmap=DIGIT_CMAP, vmin=0, vmax=1)
        axes[0, column].set_title(title, fontsize=9)
        axes[1, column].imshow(saliency, cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[1, column].set_xlabel(f"at most {100 * saliency.max():.2g}", fontsize=9)
    axes[0, 0].set_ylabel("digit")
    axes[1, 0].set_ylabel("covering\nhurts")
    _hide_axes(axes)
    fig.tight_layout()
    return fig


def plot_pictures(pictures: Sequence[np.ndarray], titles: Sequence[str], ncols: int = 6) -> Figure:
    """People's pictures as they are (any size, grey or colour), with titles."""
    fig = _image_grid(pictures, ncols, (1.9, 2.1), titles, 9, cmap="gray", vmin=0, vmax=1)
    fig.tight_layout()
    return fig


def plot_steps(steps: object) -> Figure:
    """The preprocessing pipeline, one panel per step (a :class:`mnistlib.images.Steps`)."""
    panels = [
        ("1. in grey", steps.gray, "gray"),
        ("2. ink 1, paper 0", steps.ink, DIGIT_CMAP),
        ("3. cropped", steps.cropped, DIGIT_CMAP),
        ("4. scaled", steps.scaled, DIGIT_CMAP),
        ("5. centred", steps.centred, DIGIT_CMAP),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=_page_size(3 * len(panels), 3.3))
    for ax, (title, image, cmap) in zip(axes, panels, strict=True):
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1)
        ax.set_title(f"{title}\n{image.shape[1]}x{image.shape[0]} px", fontsize=9)
    _hide_axes(axes)
    fig.tight_layout()
    return fig


def plot_learning_rate(steps: Sequence[int], rates: Sequence[float], title: str = "") -> Figure:
    """The learning rate against the training step."""
    fig, ax = plt.subplots(figsize=_page_size(7, 3))
    ax.plot(steps, rates)
    ax.set_xlabel("training step (one batch)")
    ax.set_ylabel("learning rate")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_robustness(table: pd.DataFrame) -> Figure:
    """Test accuracy against the size of each perturbation, one panel each, a line per model.

    ``table`` is :func:`mnistlib.robustness.robustness_table`'s result.
    """
    kinds = list(dict.fromkeys(table["perturbation"]))
    fig, axes = plt.subplots(
        1, len(kinds), figsize=_page_size(4.2 * len(kinds), 3.8, keep_aspect=False), sharey=True
    )
    for ax, kind in zip(np.ravel(axes), kinds, strict=True):
        part = table[table["perturbation"] == kind]
        sns.lineplot(
            data=part,
            x="amount",
            y="accuracy (%)",
            hue="model",
            style="model",
            markers=True,
            dashes=False,
            ax=ax,
            legend=ax is np.ravel(axes)[0],
        )
        ax.set_title(kind)
        ax.set_xlabel(part["unit"].iloc[0])
    first = np.ravel(axes)[0]
    handles, labels = first.get_legend_handles_labels()
    first.get_legend().remove()  # one legend for all panels, below them, over no curve
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
