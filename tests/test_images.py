"""Tests of the MNIST-style preprocessing of people's pictures, and of bad pictures."""

from __future__ import annotations

import contextlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from mnistlib.images import (
    ImageInputError,
    NoDigitError,
    load_grayscale,
    naive_resize,
    preprocess,
    preprocess_file,
)


def draw_seven(
    size: tuple[int, int] = (300, 400),
    at: tuple[int, int] = (60, 80),
    scale: float = 1.0,
    width: int = 14,
) -> Image.Image:
    """A dark 7 on light paper."""
    page = Image.new("L", size, 230)
    x, y = at
    pen = ImageDraw.Draw(page)
    pen.line(
        [(x, y), (x + 120 * scale, y), (x + 50 * scale, y + 200 * scale)], fill=20, width=width
    )
    return page


def save(image: Image.Image, path: Path) -> Path:
    image.save(path)
    return path


def test_output_is_mnist_like(tmp_path):
    steps = preprocess_file(save(draw_seven(), tmp_path / "seven.png"))
    out = steps.centred
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0 and out.max() > 0.9
    assert out[0].max() == 0 and out[:, 0].max() == 0  # paper around the digit is black
    row, col = ndimage.center_of_mass(out)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1
    rows, cols = np.flatnonzero(out.max(axis=1) > 0), np.flatnonzero(out.max(axis=0) > 0)
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (20, 21)


def test_position_and_size_do_not_matter(tmp_path):
    small = preprocess_file(save(draw_seven(at=(10, 10)), tmp_path / "a.png")).centred
    moved = preprocess_file(
        save(draw_seven(size=(900, 700), at=(500, 300), scale=1.5, width=21), tmp_path / "b.png")
    ).centred
    assert np.abs(small - moved).mean() < 0.05


def test_light_ink_on_dark_paper_is_inverted(tmp_path):
    dark_on_light = preprocess_file(save(draw_seven(), tmp_path / "a.png")).centred
    chalk = Image.eval(draw_seven(), lambda v: 255 - v)
    light_on_dark = preprocess_file(save(chalk, tmp_path / "b.png")).centred
    np.testing.assert_allclose(dark_on_light, light_on_dark, atol=0.02)


def test_transparent_background_counts_as_paper(tmp_path):
    seven = np.asarray(draw_seven(), dtype=np.uint8)
    alpha = 255 - seven  # ink opaque, paper transparent
    rgba = np.stack([np.zeros_like(seven)] * 3 + [alpha], axis=-1)
    transparent = preprocess_file(save(Image.fromarray(rgba, "RGBA"), tmp_path / "t.png"))
    on_paper = preprocess_file(save(draw_seven(), tmp_path / "p.png"))
    assert np.abs(transparent.centred - on_paper.centred).mean() < 0.03


def test_colour_jpeg(tmp_path):
    rgb = draw_seven().convert("RGB")
    steps = preprocess_file(save(rgb, tmp_path / "seven.jpg"))
    assert steps.centred.max() > 0.9


@pytest.mark.parametrize(
    ("dtype", "mode", "suffix", "scale"),
    [
        (np.uint16, "I;16", ".png", 257),
        (np.int32, "I", ".tif", 1000),
        (np.float32, "F", ".tif", 1 / 255),
    ],
)
def test_deep_pictures_are_read_like_8_bit_ones(tmp_path, dtype, mode, suffix, scale):
    # 16-bit scans, 32-bit integers and floats: Pillow's 8-bit grey conversion would
    # clip them all to white (or black).
    seven = np.asarray(draw_seven(), dtype=np.float64)
    deep = Image.fromarray((seven * scale).astype(dtype))
    assert deep.mode == mode
    read = preprocess_file(save(deep, tmp_path / f"seven{suffix}")).centred
    on_paper = preprocess_file(save(draw_seven(), tmp_path / "seven.png")).centred
    np.testing.assert_allclose(read, on_paper, atol=0.02)


def test_blank_16_bit_picture_has_no_digit(tmp_path):
    path = save(Image.fromarray(np.full((50, 50), 40_000, np.uint16)), tmp_path / "blank.png")
    with pytest.raises(NoDigitError, match="no digit found"):
        preprocess_file(path)


def test_picture_of_non_finite_numbers_is_refused(tmp_path):
    values = np.asarray(draw_seven(), dtype=np.float32)
    values[0, 0] = np.nan
    path = save(Image.fromarray(values), tmp_path / "nan.tif")
    with pytest.raises(ImageInputError, match="not finite") as error:
        load_grayscale(path)
    assert str(path) in str(error.value)


def test_a_speck_of_dirt_does_not_move_the_digit(tmp_path):
    clean = draw_seven()
    dirty = clean.copy()
    ImageDraw.Draw(dirty).ellipse([280, 380, 284, 384], fill=30)
    a = preprocess_file(save(clean, tmp_path / "clean.png")).centred
    b = preprocess_file(save(dirty, tmp_path / "dirty.png")).centred
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_thin_pen_is_thickened(tmp_path):
    thin = preprocess_file(save(draw_seven(width=2), tmp_path / "thin.png")).centred
    thick = preprocess_file(save(draw_seven(width=14), tmp_path / "thick.png")).centred
    assert thin.sum() > 0.5 * thick.sum()


@pytest.mark.parametrize("colour", [0, 128, 255])
def test_blank_picture_has_no_digit(tmp_path, colour):
    path = save(Image.new("L", (200, 200), colour), tmp_path / "blank.png")
    with pytest.raises(NoDigitError, match="no digit found") as error:
        preprocess_file(path)
    assert str(path) in str(error.value)


def test_one_pixel_picture_has_no_digit(tmp_path):
    with pytest.raises(NoDigitError, match="no digit found"):
        preprocess_file(save(Image.new("L", (1, 1), 0), tmp_path / "dot.png"))


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels")
    with pytest.raises(ImageInputError, match=r"not an image file.*HEIC") as error:
        load_grayscale(path)
    assert str(path) in str(error.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageInputError, match="empty"):
        load_grayscale(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageInputError, match="no such file"):
        load_grayscale(tmp_path / "nothing.png")


def test_folder_is_not_a_picture(tmp_path):
    with pytest.raises(ImageInputError, match="a folder, not a file") as error:
        load_grayscale(tmp_path)
    assert str(tmp_path) in str(error.value)


def test_truncated_png(tmp_path):
    full = save(draw_seven(), tmp_path / "full.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ImageInputError, match="damaged or truncated") as error:
        load_grayscale(path)
    assert str(path) in str(error.value)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


def test_huge_picture_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(100_000, 100_000))  # ten billion pixels, 200 bytes
    with pytest.raises(ImageInputError, match="too large"):
        load_grayscale(path)


def test_large_picture_over_our_limit_is_refused_before_decoding(tmp_path):
    path = tmp_path / "large.png"
    path.write_bytes(png_header_only(10_000, 8_000))  # 80 megapixels, under Pillow's limit
    with pytest.raises(ImageInputError, match="too large") as error:
        load_grayscale(path)
    assert "10000x8000" in str(error.value)


def test_naive_resize_is_28x28_and_inverted():
    gray = np.ones((100, 80), np.float32)
    gray[40:60, 30:50] = 0.0
    small = naive_resize(gray)
    assert small.shape == (28, 28) and small.max() > 0.9 and small[0, 0] == 0


def test_preprocess_refuses_wrong_shapes():
    with pytest.raises(ImageInputError, match="2-D"):
        preprocess(np.zeros((10, 10, 3)))


@pytest.mark.parametrize(
    ("gray", "message"),
    [
        ([[0.0, 1.0], [1.0, 0.0]], None),  # a list of rows is a picture too
        (np.full((40, 40), 0.5, np.float16), None),  # float16 is read as float32
        (np.empty((40, 40), object), "numbers"),
        (np.where(np.eye(40) > 0, np.nan, 1.0), "NaN or infinite"),
        (np.zeros((40, 40, 3)), "2-D grey picture"),
    ],
    ids=["list", "float16", "objects", "a NaN pixel", "colour"],
)
def test_preprocess_says_what_is_wrong_with_an_array(gray, message):
    """Issue 20, defect 10: lists, float16 and objects raised unrelated errors; NaN was "no ink"."""
    from mnistlib.images import ImageInputError, NoDigitError, preprocess

    if message is None:
        with contextlib.suppress(NoDigitError):  # these tiny pictures may hold no digit
            preprocess(gray)
        return
    with pytest.raises(ImageInputError, match=message) as error:
        preprocess(gray)
    assert not isinstance(error.value, NoDigitError)


def test_preprocess_batch_runs_the_pipeline_on_each_image():
    from mnistlib.images import preprocess_batch

    rng = np.random.default_rng(0)
    images = np.zeros((3, 28, 28), np.float32)
    for image in images:  # a bright stroke on black, placed off centre, as MNIST stores ink
        row, column = rng.integers(2, 12, 2)
        image[row : row + 12, column : column + 3] = 1.0
    batch = preprocess_batch(images)
    assert batch.shape == (3, 28, 28, 1) and batch.dtype == np.float32
    for image, prepared in zip(images, batch, strict=True):
        np.testing.assert_array_equal(prepared[..., 0], preprocess(image).centred)
    np.testing.assert_array_equal(preprocess_batch(images[..., np.newaxis]), batch)
    assert preprocess_batch(np.zeros((0, 28, 28))).shape == (0, 28, 28, 1)
    with pytest.raises(ImageInputError, match="batch of 2-D grey pictures"):
        preprocess_batch(np.zeros((28, 28)))
