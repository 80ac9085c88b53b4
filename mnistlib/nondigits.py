"""Pictures that are not digits: letters, scribbles and shapes, drawn by the program.

A digit network always names a digit, even for a letter or a scribble. To
teach (and test) a decision "not a digit", we need such pictures. They are
drawn here as a reader would draw them, dark ink on a light sheet, and then
prepared like any picture (:func:`mnistlib.images.preprocess`), so that they
reach the network exactly as a reader's picture would:

- **letters** in fonts that ship with Matplotlib, without those that look
  like a digit (O, I, l, S, Z, B, g, q, ...);
- **scribbles**: long random strokes that cross themselves;
- **shapes**: dots and discs, triangles, stars, grids, filled rectangles (never
  a thin bar, which is a 1), scattered dots.

The fonts are split in two: :data:`TRAINING_FONTS` for pictures a method may
learn from, :data:`HELD_OUT_FONTS` for the pictures that judge it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mnistlib.images import preprocess_batch

__all__ = [
    "HELD_OUT_FONTS",
    "KINDS",
    "LETTERS",
    "TRAINING_FONTS",
    "non_digit_pictures",
    "non_digits",
]

#: Letters that do not look like a digit in any common font.
LETTERS = "ACEFHKMNPRUVWXYacdefhkmnprtuvwxy"
#: The kinds of picture, drawn in turn.
KINDS = ("letter", "scribble", "shape")
#: Matplotlib's own fonts: present wherever Matplotlib is installed.
FONT_FOLDER = "mpl-data/fonts/ttf"
#: The fonts of the letters a method may learn from.
TRAINING_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Italic.ttf",
)
#: The fonts of the letters that judge a method (never learned from).
HELD_OUT_FONTS = (
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
)
#: The side of the square sheet each picture is drawn on, in pixels.
SHEET = 160


def _font_path(name: str) -> Path:
    import matplotlib

    return Path(matplotlib.__file__).parent / FONT_FOLDER / name


def _sheet() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    sheet = Image.new("L", (SHEET, SHEET), 255)
    return sheet, ImageDraw.Draw(sheet)


def draw_letter(rng: np.random.Generator, fonts: tuple[str, ...]) -> Image.Image:
    """One letter, in a font of ``fonts``, at a random size and slant."""
    sheet, pen = _sheet()
    font = ImageFont.truetype(
        str(_font_path(fonts[rng.integers(len(fonts))])), int(rng.integers(70, 120))
    )
    pen.text(
        (SHEET / 2, SHEET / 2), LETTERS[rng.integers(len(LETTERS))], font=font, fill=0, anchor="mm"
    )
    return sheet.rotate(float(rng.uniform(-15, 15)), fillcolor=255)


def draw_scribble(rng: np.random.Generator) -> Image.Image:
    """A random walk of 20 to 50 steps, drawn as one thick stroke."""
    sheet, pen = _sheet()
    points = np.cumsum(rng.normal(0, 25, (int(rng.integers(20, 50)), 2)), axis=0)
    points += SHEET / 2 - points.mean(axis=0)
    pen.line(
        [tuple(point) for point in points], fill=0, width=int(rng.integers(4, 10)), joint="curve"
    )
    return sheet


def draw_shape(rng: np.random.Generator) -> Image.Image:
    """A dot or disc, a triangle, a star, a grid, a filled rectangle, or scattered dots."""
    sheet, pen = _sheet()
    centre, radius, width = SHEET / 2, rng.uniform(25, 60), int(rng.integers(4, 10))
    kind = int(rng.integers(6))
    if kind == 0:  # a dot: the pipeline enlarges it to a disc
        r = rng.uniform(3, 40)
        pen.ellipse([centre - r, centre - r, centre + r, centre + r], fill=0)
    elif kind == 1:
        angles = rng.uniform(0, 2 * np.pi) + np.arange(3) * 2 * np.pi / 3
        corners = [(centre + radius * np.cos(a), centre + radius * np.sin(a)) for a in angles]
        if rng.random() < 0.5:
            pen.polygon(corners, fill=0)
        else:
            pen.line([*corners, corners[0]], fill=0, width=width)
    elif kind == 2:
        points = int(rng.integers(5, 8))
        angles = rng.uniform(0, 2 * np.pi) + np.arange(2 * points) * np.pi / points
        radii = np.where(np.arange(2 * points) % 2 == 0, radius, radius / 2.5)
        pen.polygon(
            [
                (centre + r * np.cos(a), centre + r * np.sin(a))
                for r, a in zip(radii, angles, strict=True)
            ],
            fill=0,
        )
    elif kind == 3:
        for x in np.linspace(centre - radius, centre + radius, int(rng.integers(3, 6))):
            pen.line([(x, centre - radius), (x, centre + radius)], fill=0, width=width)
            pen.line([(centre - radius, x), (centre + radius, x)], fill=0, width=width)
    elif kind == 4:
        a = rng.uniform(15, 60)  # no thin bar: a bar is a 1
        b = a * rng.uniform(0.5, 2.0)
        pen.rectangle([centre - a, centre - b, centre + a, centre + b], fill=0)
    else:
        for _ in range(int(rng.integers(3, 9))):
            (x, y), r = rng.uniform(20, SHEET - 20, 2), rng.uniform(3, 10)
            pen.ellipse([x - r, y - r, x + r, y + r], fill=0)
    return sheet


def non_digit_pictures(
    count: int, seed: int, fonts: tuple[str, ...] = TRAINING_FONTS
) -> tuple[list[np.ndarray], list[str]]:
    """``count`` pictures (grey levels in [0, 1], 1 = paper) and their kinds, in turn."""
    rng = np.random.default_rng(seed)
    draw: dict[str, Callable[[], Image.Image]] = {
        "letter": lambda: draw_letter(rng, fonts),
        "scribble": lambda: draw_scribble(rng),
        "shape": lambda: draw_shape(rng),
    }
    kinds = [KINDS[index % len(KINDS)] for index in range(count)]
    pictures = [np.asarray(draw[kind](), dtype=np.float32) / 255 for kind in kinds]
    return pictures, kinds


def non_digits(
    count: int, seed: int, fonts: tuple[str, ...] = TRAINING_FONTS
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` non-digits prepared as the network's inputs, (n, 28, 28, 1), and their kinds.

    Drawn once per process: the same call again returns the same arrays (read-only).
    """
    return _prepared(count, seed, tuple(fonts))


@functools.lru_cache(maxsize=8)
def _prepared(count: int, seed: int, fonts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    pictures, kinds = non_digit_pictures(count, seed, fonts)
    inputs = preprocess_batch(np.stack(pictures))
    labels = np.array(kinds)
    for array in (inputs, labels):
        array.setflags(write=False)
    return inputs, labels
