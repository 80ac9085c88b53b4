"""Turn a person's picture of a digit into an MNIST-like 28x28 input.

MNIST's digits were made this way (LeCun et al.): ink as high values on 0,
each digit cropped to its ink, scaled so that its longer side is 20 pixels
(keeping its shape, with anti-aliasing that gives grey edges), and placed in
a 28x28 field so that its centre of mass is at the centre. A photo of a
digit on paper looks nothing like that until we do the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from mnistlib.data import IMAGE_SIDE
from mnistlib.files import require_nonempty_file

__all__ = [
    "MAX_PIXELS",
    "ImageInputError",
    "NoDigitError",
    "Steps",
    "load_grayscale",
    "naive_resize",
    "preprocess",
    "preprocess_batch",
    "preprocess_file",
    "sample_pictures",
]

#: Pictures larger than this many pixels are refused before they are decoded
#: (a 40-megapixel photo fits; a decompression bomb does not).
MAX_PIXELS = 50_000_000

#: Larger pictures are reduced to at most this side before processing: far
#: more detail than a 20-pixel digit needs, and bounded time and memory.
WORKING_SIDE = 1024

#: Side of the box the digit is scaled into, and of the whole field.
DIGIT_BOX = 20
FIELD = IMAGE_SIDE

#: A pixel counts as ink when it is at least this far from paper towards ink,
#: as a share of the picture's contrast.
INK_THRESHOLD = 0.35


class ImageInputError(ValueError):
    """A file that cannot be used as a picture of a digit; the message says why."""


class NoDigitError(ImageInputError):
    """The picture holds no ink to read: blank, one colour, or too faint."""


@dataclass
class Steps:
    """The pipeline's intermediate pictures in [0, 1], ink 1 and paper 0 (``gray`` aside)."""

    gray: np.ndarray  # the picture in grey, as loaded (paper light or dark)
    ink: np.ndarray  # background removed and inverted if needed: ink = 1
    cropped: np.ndarray  # cut to the ink's bounding box
    scaled: np.ndarray  # longer side 20 pixels, anti-aliased
    centred: np.ndarray  # 28x28, centre of mass in the middle: the model's input


def sample_pictures() -> Path:
    """The folder of the book's sample pictures, installed with the library.

    It holds two folders: ``handwriting`` (real MNIST test digits made to look
    like photos and scans) and ``fonts`` (typed digits). Each file's name
    starts with the digit it shows.
    """
    return Path(__file__).resolve().parent / "samples"


def load_grayscale(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file (PNG, JPEG, ...) as grey levels in [0, 1], 1 = white.

    Transparent pixels count as white paper; a photo's EXIF orientation is
    applied; 16-bit, 32-bit and floating-point pictures are scaled to their
    own range. Refuses empty, non-image, damaged and over-large files with a
    message naming the file.
    """
    path = require_nonempty_file(path, missing=ImageInputError, empty=ImageInputError)
    try:
        with Image.open(path) as image:
            width, height = image.size  # read from the header, nothing decoded yet
            if width * height > MAX_PIXELS:
                raise ImageInputError(
                    f"{path}: {width}x{height} pixels is too large "
                    f"(at most {MAX_PIXELS:,} pixels); scale it down first"
                )
            image.draft("L", (WORKING_SIDE, WORKING_SIDE))  # JPEG: decode at a lower size
            image.load()
            image = ImageOps.exif_transpose(image)
            image.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.BOX)
            if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
                image = image.convert("RGBA")
                paper = Image.new("RGBA", image.size, "white")
                image = Image.alpha_composite(paper, image)
            gray = _grey_levels(image, path)
    except UnidentifiedImageError as error:
        raise ImageInputError(
            f"{path}: not an image file Pillow can read "
            "(PNG, JPEG, GIF, BMP, TIFF and WebP can be; save others, such as HEIC, as one of them)"
        ) from error
    except Image.DecompressionBombError as error:  # Pillow's own, even larger, limit
        raise ImageInputError(f"{path}: too large to decode safely ({error})") from error
    except ImageInputError:
        raise
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageInputError(f"{path}: damaged or truncated image ({error})") from error
    return gray


def _grey_levels(image: Image.Image, path: os.PathLike[str]) -> np.ndarray:
    """The picture's grey levels in [0, 1]. Pictures of 8 bits per channel go
    through Pillow's grey conversion ("L"); those of 16 or 32 bits or of
    floating-point values, which "L" would clip to white or black, are scaled
    from their own darkest pixel to their lightest.
    """
    if not image.mode.startswith(("I", "F")):  # I, I;16, I;16B, ... and F
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    values = np.asarray(image, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ImageInputError(f"{path}: pixel values that are not finite numbers")
    low, high = values.min(), values.max()
    if high == low:  # one colour: the pipeline reports that it finds no digit
        return np.ones(values.shape, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def _ink(gray: np.ndarray) -> np.ndarray:
    """Ink as 1 and paper as 0, whichever of the two is light.

    The paper is the median colour of the picture's border. The contrast is
    stretched from the paper's level to the strongest ink, so grey paper and
    faded ink give the same result as white paper and black ink. A 3x3
    median filter (SciPy) first removes isolated specks of sensor noise.
    """
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    paper = float(np.median(border))
    ink = gray if paper < 0.5 else 1.0 - gray
    paper_level = min(paper, 1.0 - paper)
    ink = ndimage.median_filter(ink, size=3) if min(ink.shape) >= 3 else ink
    contrast = float(ink.max()) - paper_level
    if contrast < 0.15:
        raise NoDigitError("no digit found: the picture is blank or has almost no contrast")
    return np.clip((ink - paper_level) / contrast, 0.0, 1.0)


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """Cut to the bounding box of the digit's strokes.

    Pixels below :data:`INK_THRESHOLD` are set to paper; connected blobs of
    ink (SciPy's ``ndimage.label``) smaller than a tenth of the largest are
    dropped as dirt, so that a speck in a corner does not stretch the box.
    Thin strokes are then thickened to MNIST's proportions (about a tenth of
    the digit's height) with a grey dilation.
    """
    mask = ink >= INK_THRESHOLD
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        raise NoDigitError("no digit found: no ink above the noise")
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.isin(labels, 1 + np.flatnonzero(sizes >= 0.1 * sizes.max()))
    clean = np.where(keep, ink, 0.0)
    rows, cols = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
    cropped = clean[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return _thicken(cropped)


def _thicken(cropped: np.ndarray) -> np.ndarray:
    """Widen strokes thinner than MNIST's (about 2.2 of the 20 pixels of the box)."""
    mask = cropped >= 0.5
    if not mask.any():
        return cropped
    width = 2.0 * float(np.percentile(ndimage.distance_transform_edt(mask)[mask], 90))
    target = 2.2 * max(cropped.shape) / DIGIT_BOX
    grow = round(target - width)
    if grow < 1:
        return cropped
    padded = np.pad(cropped, grow)
    return ndimage.grey_dilation(padded, size=(grow + 1, grow + 1))


def _scale_to_box(cropped: np.ndarray) -> np.ndarray:
    """Scale so the longer side is 20 pixels, keeping the aspect ratio.

    Pillow's ``Image.resize`` with the ``BOX`` filter averages every source
    pixel that falls in a target pixel: the anti-aliasing that gives MNIST
    its grey stroke edges (``LANCZOS`` is used when enlarging a tiny image).
    """
    height, width = cropped.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.LANCZOS
    image = Image.fromarray(cropped.astype(np.float32), mode="F")
    return np.clip(np.asarray(image.resize(size, resample=resample)), 0.0, 1.0)


def _centre_by_mass(scaled: np.ndarray) -> np.ndarray:
    """Place in a 28x28 field with the centre of mass at the centre.

    SciPy's ``ndimage.center_of_mass`` gives the ink-weighted mean position;
    the digit is then moved by whole pixels so that it sits at (14, 14),
    as far as the field allows.
    """
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    height, width = scaled.shape
    top, left = (FIELD - height) // 2, (FIELD - width) // 2
    field[top : top + height, left : left + width] = scaled
    row, col = ndimage.center_of_mass(field)
    shift_rows = int(np.clip(round(FIELD / 2 - row), -top, FIELD - height - top))
    shift_cols = int(np.clip(round(FIELD / 2 - col), -left, FIELD - width - left))
    return np.roll(field, (shift_rows, shift_cols), axis=(0, 1))


def preprocess(gray: np.ndarray) -> Steps:
    """Run the MNIST-style pipeline on a grey picture; every step is kept."""
    gray = _checked_picture(gray)
    ink = _ink(gray)
    cropped = _crop_to_ink(ink)
    scaled = _scale_to_box(cropped)
    return Steps(gray, ink, cropped, scaled, _centre_by_mass(scaled))


def preprocess_batch(images: np.ndarray) -> np.ndarray:
    """Run :func:`preprocess` on each image of a batch: ``(n, 28, 28, 1)`` network inputs.

    ``images`` is ``(n, height, width)`` or ``(n, height, width, 1)`` grey levels, such
    as MNIST's own digits: they then reach a network exactly as a reader's picture would.
    """
    batch = np.asarray(images)
    if batch.ndim == 4 and batch.shape[-1] == 1:
        batch = batch[..., 0]
    if batch.ndim != 3:
        raise ImageInputError(f"expected a batch of 2-D grey pictures, got shape {batch.shape}")
    centred = [preprocess(image).centred for image in batch]
    return np.stack(centred)[..., np.newaxis] if centred else np.zeros((0, 28, 28, 1), np.float32)


def _checked_picture(gray: np.ndarray) -> np.ndarray:
    """``gray`` as a 2-D array of finite numbers (a list of rows will do), or an ImageInputError."""
    gray = np.asarray(gray)
    if gray.dtype.kind not in "biuf":
        raise ImageInputError(f"a picture holds numbers, not {gray.dtype} values")
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageInputError(f"expected a 2-D grey picture, got shape {gray.shape}")
    if gray.dtype.kind == "f" and gray.itemsize < 4:
        gray = gray.astype(np.float32)  # float16 is too coarse for the pipeline's sums
    if gray.dtype.kind == "f" and not np.isfinite(gray).all():
        raise ImageInputError("the picture holds NaN or infinite pixels")
    return gray


def preprocess_file(path: str | os.PathLike[str]) -> Steps:
    """Load an image file and run the pipeline, naming the file in any error."""
    gray = load_grayscale(path)
    try:
        return preprocess(gray)
    except ImageInputError as error:
        raise type(error)(f"{path}: {error}") from error


def naive_resize(gray: np.ndarray) -> np.ndarray:
    """What a beginner tries first: squash the whole picture to 28x28, inverted.

    Shown in the book to explain why the MNIST-style pipeline matters.
    """
    image = Image.fromarray((gray * 255).astype(np.uint8), mode="L")
    small = np.asarray(image.resize((FIELD, FIELD), Image.Resampling.BILINEAR), np.float32)
    return 1.0 - small / 255.0
