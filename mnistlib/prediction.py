"""Read digits with a trained model: from arrays, from image files, fast.

``model.predict`` is built for large data sets: every call sets up a data
pipeline, which costs far more than the arithmetic for one 28x28 image.
:class:`Predictor` traces the model once into a TensorFlow graph
(``tf.function``) and calls that graph directly.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mnistlib.calibration import with_temperature
from mnistlib.data import IMAGE_SIDE, INPUT_SHAPE, NUM_CLASSES
from mnistlib.files import require_nonempty_file
from mnistlib.images import ImageInputError, preprocess_file

if TYPE_CHECKING:
    import keras
    from numpy.typing import ArrayLike

    from mnistlib.detector import DigitCheck

__all__ = [
    "DigitReader",
    "ModelFileError",
    "Prediction",
    "Predictor",
    "image_batch",
    "load_model_file",
    "predict_files",
    "require_probabilities",
]


class ModelFileError(ValueError):
    """A model file that cannot be used; the message names the file and the problem."""


def load_model_file(path: str | os.PathLike[str]) -> keras.Model:
    """Load a ``.keras`` model for reading digits, with Keras's safe mode on.

    Refuses, with a clear message: a missing or empty file, a file that is
    not a Keras archive, a damaged one, one that would run code when loaded
    (a ``Lambda`` layer: safe mode), and a model that does not map 28x28x1
    images to ten probabilities, or one whose parts or layers claim more room
    than a digit model needs (checked before TensorFlow is even imported).
    """
    path = require_nonempty_file(path, ModelFileError, ModelFileError, kind="model file")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a Keras model file (expected a .keras archive)")
    _check_claimed_size(path)
    import keras  # late: TensorFlow is slow to import

    try:  # compile=False: reading digits needs no optimiser
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except ValueError as error:
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise ModelFileError(
                f"{path}: refused, loading it would run code stored in the file "
                "(Keras safe mode); only load such a file if you trust its author"
            ) from error
        raise ModelFileError(f"{path}: damaged or not a Keras model ({error})") from error
    except Exception as error:  # Keras raises many types for a damaged archive
        raise ModelFileError(f"{path}: damaged or not a Keras model ({error})") from error
    shapes = tuple(model.input_shape[1:]), tuple(model.output_shape[1:])
    if shapes != (INPUT_SHAPE, (NUM_CLASSES,)):
        raise ModelFileError(
            f"{path}: not a digit model (input {model.input_shape}, output {model.output_shape};"
            " expected (None, 28, 28, 1) and (None, 10))"
        )
    require_probabilities(Predictor(model), path)
    return model


#: How far ten outputs may stray from probabilities (float32 rounding).
PROBABILITY_TOLERANCE = 1e-3


def require_probabilities(reader: DigitReader, path: str | os.PathLike[str]) -> None:
    """Refuse a model whose answers to a few test inputs are not ten probabilities.

    Each must lie in [0, 1] and the ten must add up to 1, as a softmax layer
    makes them. A model that ends in raw scores (logits) or sigmoids is
    refused rather than read: its "probability" would be meaningless.
    """
    probes = np.random.default_rng(0).random((4, *INPUT_SHAPE), dtype=np.float32)
    probes[0] = 0.0  # a blank image too
    answers = np.asarray(reader.probabilities(probes))
    if answers.shape != (len(probes), NUM_CLASSES):
        raise ModelFileError(
            f"{path}: not a digit model ({answers.shape[1:]} outputs per image; expected ten)"
        )
    sums = answers.sum(axis=1)
    low, high = float(answers.min()), float(answers.max())
    if not (
        np.isfinite(answers).all()
        and low >= -PROBABILITY_TOLERANCE
        and high <= 1 + PROBABILITY_TOLERANCE
        and np.allclose(sums, 1.0, atol=PROBABILITY_TOLERANCE)
    ):
        raise ModelFileError(
            f"{path}: its ten outputs are not probabilities (from {low:.3g} to {high:.3g}, "
            f"adding up to {sums.min():.3g} to {sums.max():.3g}); a digit model ends with a "
            "softmax layer"
        )


#: A digit model needs far fewer weights: the book's networks have under a
#: million, and the rough bound of ``_claimed_weights`` gives them under four
#: million. A file whose layers claim more is refused before Keras builds it.
MAX_WEIGHTS = 50_000_000
#: Larger parts of a .keras archive are refused unread (the book's config.json
#: files are a few kilobytes, their weights a few megabytes).
MAX_CONFIG_BYTES = 1_000_000
MAX_ARCHIVE_BYTES = 4 * MAX_WEIGHTS + MAX_CONFIG_BYTES


def _check_claimed_size(path: Path) -> None:
    """Refuse a .keras archive whose parts or layers claim more than a digit model can need."""
    with zipfile.ZipFile(path) as archive:
        declared = sum(item.file_size for item in archive.infolist())
        if declared > MAX_ARCHIVE_BYTES:
            raise ModelFileError(
                f"{path}: the archive unpacks to {declared:,} bytes, far more than a digit "
                f"model needs (at most {MAX_ARCHIVE_BYTES:,})"
            )
        try:
            with archive.open("config.json") as member:
                text = member.read(MAX_CONFIG_BYTES + 1)
        except KeyError:
            raise ModelFileError(f"{path}: not a Keras model file (no config.json)") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise ModelFileError(
            f"{path}: its config.json is over {MAX_CONFIG_BYTES:,} bytes, far more than a "
            "model description needs"
        )
    try:
        config = json.loads(text)
    except ValueError as error:
        raise ModelFileError(f"{path}: damaged config.json ({error})") from error
    claimed = _claimed_weights(config)
    if claimed > MAX_WEIGHTS:
        raise ModelFileError(
            f"{path}: its layers claim about {claimed:,} weights, far more than a digit model "
            f"needs (at most {MAX_WEIGHTS:,})"
        )


def _claimed_weights(config: Any) -> int:
    """A rough upper bound of the weights the layers of a Keras config would create.

    Layers are taken in the order they appear, from a 28x28x1 input: a dense
    layer connects its units to everything before it, a convolution its
    filters to the channels before it, at most 28x28 positions wide.
    """
    weights, width, channels = 0, IMAGE_SIDE * IMAGE_SIDE, 1
    for layer in _layers_in_order(config):
        settings = layer.get("config") or {}
        units, filters = _count(settings.get("units")), _count(settings.get("filters"))
        if units:
            weights += (width + 1) * units
            width = channels = units
        elif filters:
            kernel = settings.get("kernel_size") or (3, 3)
            kernel_size = int(np.prod([_count(k) or 1 for k in np.atleast_1d(kernel)]))
            weights += (kernel_size * channels + 1) * filters
            channels, width = filters, IMAGE_SIDE * IMAGE_SIDE * filters
    return weights


def _layers_in_order(config: Any) -> list[dict[str, Any]]:
    """Every ``{"class_name": ..., "config": ...}`` entry of a Keras config, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(config, dict):
        if "class_name" in config and isinstance(config.get("config"), dict):
            found.append(config)
        for value in config.values():
            found.extend(_layers_in_order(value))
    elif isinstance(config, list):
        for value in config:
            found.extend(_layers_in_order(value))
    return found


def _count(value: Any) -> int:
    """A layer size from a config, or 0 if it is not a positive whole number."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one picture, and whether it is a digit at all.

    ``verdict`` is ``"digit"`` or ``"not a digit"``
    (:class:`mnistlib.detector.DigitCheck`), or ``None`` when no detector
    was asked.
    """

    file: str
    digit: int
    probability: float
    probabilities: tuple[float, ...]
    verdict: str | None = None


class DigitReader:
    """Reads digits from image files with any model that gives :meth:`probabilities`.

    Every reader takes the same batches, checked by :func:`image_batch`. A
    ``temperature`` other than 1 calibrates the model's probabilities
    (:func:`mnistlib.calibration.with_temperature`); the digit stays the same.
    """

    temperature: float = 1.0

    def probabilities(self, images: ArrayLike) -> np.ndarray:
        """Ten probabilities per image; ``images`` is (n, 28, 28) or (n, 28, 28, 1) in [0, 1]."""
        batch = image_batch(images)
        if len(batch) == 0:
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        answers = np.asarray(self._run(batch))
        if self.temperature == 1.0:
            return answers
        return with_temperature(answers, self.temperature).astype(np.float32)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """The model's answers for a checked, non-empty ``(n, 28, 28, 1)`` float32 batch."""
        raise NotImplementedError

    def predict_file(
        self, path: str | os.PathLike[str], check: DigitCheck | None = None
    ) -> Prediction:
        """Preprocess an image file the MNIST way and read its digit; with ``check``, also
        decide whether the picture is a digit at all.

        Raises :class:`~mnistlib.images.ImageInputError` for a file that is
        not a usable picture, and its subclass ``NoDigitError`` when the
        picture holds no ink at all (rather than guessing one).
        """
        image = preprocess_file(path).centred[np.newaxis]
        probabilities = self.probabilities(image)[0]
        digit = int(probabilities.argmax())
        verdict = None if check is None else check.verdicts(image)[0]
        return Prediction(
            str(path), digit, float(probabilities[digit]), tuple(map(float, probabilities)), verdict
        )


class Predictor(DigitReader):
    """A Keras model ready to read digits quickly, one at a time or in batches."""

    def __init__(self, model: keras.Model, temperature: float = 1.0) -> None:
        import tensorflow as tf

        self.model, self.temperature = model, temperature
        signature = [tf.TensorSpec([None, *INPUT_SHAPE], tf.float32)]
        self._forward = tf.function(lambda x: model(x, training=False), input_signature=signature)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._forward(batch).numpy()


#: Rounding may put a pixel a hair outside [0, 1]; 0-255 pixels are far outside.
PIXEL_SLACK = 0.01


def image_batch(images: ArrayLike) -> np.ndarray:
    """``images`` as a ``(n, 28, 28, 1)`` float32 batch, or a ``ValueError`` saying what is wrong.

    Accepted: numbers (any integer, float or bool type) of shape ``(n, 28, 28)``
    or ``(n, 28, 28, 1)``, finite and within [0, 1], as ``scale_pixels`` makes them.
    """
    array = np.asarray(images)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"images must be numbers, not {array.dtype} values")
    if array.shape[1:] not in ((IMAGE_SIDE, IMAGE_SIDE), INPUT_SHAPE):
        raise ValueError(
            f"images must have shape (n, 28, 28) or (n, 28, 28, 1), not {array.shape} "
            "(one image: images[np.newaxis])"
        )
    batch = array.astype(np.float32).reshape(-1, *INPUT_SHAPE)
    if not np.isfinite(batch).all():
        raise ValueError("images hold NaN or infinite pixels")
    if batch.size and (batch.min() < -PIXEL_SLACK or batch.max() > 1.0 + PIXEL_SLACK):
        raise ValueError(
            f"pixels must be in [0, 1], not {batch.min():g} to {batch.max():g} "
            "(scale 0-255 images with mnistlib.data.scale_pixels)"
        )
    return batch


def predict_files(
    predictor: DigitReader, paths: list[str], check: DigitCheck | None = None
) -> tuple[list[Prediction], list[tuple[str, str]]]:
    """Predict every file (with ``check``'s verdict); one bad file is reported and does not
    stop the others."""
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError(f"predict_files takes a list of paths, not one path: [{str(paths)!r}]")
    predictions, failures = [], []
    for path in paths:
        try:
            predictions.append(predictor.predict_file(path, check))
        except ImageInputError as error:
            failures.append((path, str(error)))
    return predictions, failures
