"""Make the sample pictures of chapter 6 (run once; the results are committed).

Two sets, in ``mnistlib/samples/`` (installed with the library):

* ``handwriting/``: 30 real handwritten digits, three of each, drawn at
  random (seeded) from the MNIST *test* set, which no model of the book
  trains on, and made to look like photos and scans of dark ink on paper:
  enlarged, rotated a little, put anywhere on a larger sheet of any size,
  with uneven light, paper grain, blur, coloured ink, JPEG compression, and
  in a few cases a transparent background or light chalk on a dark board.
* ``fonts/``: the ten digits typed in a few fonts, for comparison.

The file name starts with the true digit: ``7-03.jpg`` shows a 7.

    python scripts/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from mnistlib.data import load_mnist

OUT = Path(__file__).resolve().parent.parent / "mnistlib" / "samples"
FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Italic.ttf",
]


def photograph(digit: np.ndarray, rng: np.random.Generator, style: str) -> Image.Image:
    """A 28x28 MNIST digit made to look like a photo or scan of ink on paper."""
    scale = rng.uniform(4, 10)
    size = round(28 * scale)
    ink = Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC)
    ink = ink.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BICUBIC, expand=True)
    width = int(ink.width * rng.uniform(1.3, 2.4))
    height = int(ink.height * rng.uniform(1.3, 2.4))
    sheet = np.zeros((height, width), np.float32)
    top = rng.integers(0, height - ink.height + 1)
    left = rng.integers(0, width - ink.width + 1)
    sheet[top : top + ink.height, left : left + ink.width] = np.asarray(ink) / 255.0
    sheet = ndimage.gaussian_filter(sheet, rng.uniform(0.5, 2))
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    light = 1 - rng.uniform(0, 0.25) * (rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy + 1) / 2
    paper = rng.uniform(0.78, 0.97) * light + rng.normal(0, rng.uniform(0.01, 0.04), sheet.shape)
    ink_level = rng.uniform(0.05, 0.3)
    grey = paper * (1 - sheet) + ink_level * sheet
    if style == "chalk":  # light chalk on a dark board
        grey = 1 - grey
    grey8 = (np.clip(grey, 0, 1) * 255).astype(np.uint8)
    if style == "blue-ink":
        rgb = np.stack([grey8, grey8, np.maximum(grey8, (sheet * 160).astype(np.uint8))], -1)
        return Image.fromarray(rgb.astype(np.uint8), "RGB")
    if style == "transparent":  # ink on a transparent background
        alpha = (np.clip(sheet, 0, 1) * 255).astype(np.uint8)
        return Image.fromarray(np.stack([np.zeros_like(alpha)] * 3 + [alpha], -1), "RGBA")
    return Image.fromarray(grey8, "L")


def typed(digit: int, font_path: str) -> Image.Image:
    """A digit typed in a font, dark on light, off-centre on a small page."""
    page = Image.new("L", (160, 200), 235)
    font = ImageFont.truetype(font_path, 110)
    ImageDraw.Draw(page).text((30, 25), str(digit), fill=25, font=font)
    return page


def main() -> None:
    rng = np.random.default_rng(2026)
    (_, _), (x_test, y_test) = load_mnist()
    styles = ["scan"] * 10 + ["photo"] * 14 + ["blue-ink"] * 3 + ["transparent", "chalk", "chalk"]
    rng.shuffle(styles)
    folder = OUT / "handwriting"
    folder.mkdir(parents=True, exist_ok=True)
    number = 0
    for digit in range(10):
        for index in rng.choice(np.flatnonzero(y_test == digit), size=3, replace=False):
            style = styles[number]
            picture = photograph(x_test[index], rng, style)
            stem = f"{digit}-{number:02d}"
            if style in ("photo", "blue-ink"):
                picture.convert("RGB").save(
                    folder / f"{stem}.jpg", quality=int(rng.integers(60, 90))
                )
            else:
                picture.save(folder / f"{stem}.png")
            number += 1
    folder = OUT / "fonts"
    folder.mkdir(parents=True, exist_ok=True)
    for font_number, font in enumerate(FONTS):
        for digit in range(10):
            typed(digit, font).save(folder / f"{digit}-font{font_number}.png")


if __name__ == "__main__":
    main()
