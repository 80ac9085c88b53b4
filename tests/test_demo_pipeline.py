"""The drawing page's JavaScript pipeline gives the same 28x28 input as mnistlib.images.

``book/_static/demo/pipeline.js`` repeats the Python pipeline step by step;
these tests run it under Node.js on the same pictures and require the same
result to the last bit (and the same refusal of a blank picture).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnistlib.images import NoDigitError, preprocess

PIPELINE = Path(__file__).resolve().parents[1] / "book" / "_static" / "demo" / "pipeline.js"

RUNNER = """
const pipeline = require(process.argv[1]);
const pictures = JSON.parse(require("fs").readFileSync(0, "utf8"));
const results = pictures.map(({ width, height, data }) => {
  try {
    const steps = pipeline.preprocess(pipeline.image(width, height, Float32Array.from(data)));
    const cropped = [steps.cropped.height, steps.cropped.width];
    return { centred: Array.from(steps.centred), cropped };
  } catch (error) {
    if (error instanceof pipeline.NoDigitError) return { noDigit: error.message };
    throw error;
  }
});
process.stdout.write(JSON.stringify(results));
"""


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Node.js is needed for this test (.ci/run installs it)")
        pytest.skip("Node.js is not installed")
    return found


def run_javascript(pictures: list[np.ndarray]) -> list[dict]:
    payload = [
        {"width": p.shape[1], "height": p.shape[0], "data": p.astype(np.float32).ravel().tolist()}
        for p in pictures
    ]
    result = subprocess.run(
        [node(), "-e", RUNNER, str(PIPELINE)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def assert_same_as_python(pictures: list[np.ndarray]) -> None:
    for index, (picture, js) in enumerate(zip(pictures, run_javascript(pictures), strict=True)):
        try:
            steps = preprocess(picture)
        except NoDigitError as error:
            assert js.get("noDigit") == str(error), f"picture {index}: {js}"
            continue
        assert "noDigit" not in js, f"picture {index}: JavaScript found no digit"
        assert tuple(js["cropped"]) == steps.cropped.shape, f"picture {index}"
        centred = np.array(js["centred"], dtype=np.float32).reshape(28, 28)
        np.testing.assert_array_equal(centred, steps.centred, err_msg=f"picture {index}")


def drawing(
    size: int, pen: float, points: list[tuple[float, float]], dark_paper: bool
) -> np.ndarray:
    """A pen stroke through ``points`` (fractions of the side), anti-aliased like a canvas."""
    supersample = 4
    picture = Image.new("L", (size * supersample, size * supersample), 255)
    scaled = [(x * size * supersample, y * size * supersample) for x, y in points]
    ImageDraw.Draw(picture).line(scaled, fill=0, width=round(pen * supersample), joint="curve")
    gray = np.asarray(picture.resize((size, size), Image.Resampling.BOX), np.float32) / 255
    return 1 - gray if dark_paper else gray


def test_drawings_of_every_size_and_pen():
    """Sizes from 40 to 300 pixels, thin pens (thickened) and thick, light and dark paper."""
    rng = np.random.default_rng(7)
    pictures = []
    for index in range(40):
        size = int(rng.integers(40, 300))
        points = [tuple(rng.uniform(0.1, 0.9, 2)) for _ in range(int(rng.integers(2, 6)))]
        pictures.append(drawing(size, rng.uniform(1, size / 8), points, index % 5 == 0))
    assert_same_as_python(pictures)


def test_specks_wide_and_tall_pictures_and_a_solid_block():
    speckled = drawing(120, 8, [(0.3, 0.2), (0.6, 0.8)], False)
    speckled[3:5, 110:112] = 0.0  # dirt far from the digit: dropped, not cropped around
    wide = drawing(200, 10, [(0.1, 0.5), (0.9, 0.55)], False)[60:140]
    tall = drawing(200, 10, [(0.5, 0.1), (0.55, 0.9)], False)[:, 60:140]
    block = np.zeros((50, 50), np.float32)
    block[10:40, 10:40] = 1.0  # no paper inside the crop at all
    assert_same_as_python([speckled, wide, tall, block])


def test_blank_pictures_are_refused_the_same_way():
    assert_same_as_python([np.ones((30, 30), np.float32), np.full((9, 40), 0.5, np.float32)])


def test_real_mnist_test_digits(mnist_test_images):
    """Small pictures, enlarged with Lanczos rather than reduced with the box filter."""
    assert_same_as_python([image.astype(np.float32) / 255 for image in mnist_test_images[:200]])
