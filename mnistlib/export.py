"""Export a trained model to ONNX and prove that the export reads digits the same.

ONNX is an open file format for neural networks. A model saved in it runs
without TensorFlow: in ONNX Runtime from Python, C++, C#, ... and in a web
browser (ONNX Runtime Web), which is how the book's drawing page reads your
digits. Keras 3 writes the file (``model.export(path, format="onnx")``, with
the ``tf2onnx`` converter underneath); :func:`check_onnx` then runs both
models on the same images and compares every probability.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mnistlib.data import IMAGE_SIDE, NUM_CLASSES
from mnistlib.files import require_nonempty_file
from mnistlib.prediction import DigitReader, ModelFileError, Predictor, require_probabilities
from mnistlib.store import atomic_write

if TYPE_CHECKING:
    import keras
    import onnxruntime

__all__ = [
    "OnnxPredictor",
    "ParityCheck",
    "check_onnx",
    "ensure_onnx",
    "export_onnx",
    "onnx_session",
]

#: The largest difference allowed between a probability from Keras and the
#: same probability from ONNX Runtime (both compute in 32-bit floats, in
#: different orders, so they agree to about a millionth).
TOLERANCE = 1e-5


def export_onnx(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (written whole or not at all).

    A model loaded from a ``.keras`` file has not yet been called, which
    Keras needs in order to know its input; one call on a blank image does it.
    """
    model(np.zeros((1, *model.input_shape[1:]), dtype=np.float32))

    def write(temporary: Path) -> None:
        with warnings.catch_warnings():  # tf2onnx probes NumPy for a name NumPy 2 dropped
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(temporary), format="onnx", verbose=False)

    return atomic_write(path, write)


def onnx_session(path: str | os.PathLike[str]) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session on the CPU for the model file at ``path``, or ``ModelFileError``."""
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own types for a bad file
        raise ModelFileError(f"{path}: not a readable ONNX model ({error})") from error


class OnnxPredictor(DigitReader):
    """An ONNX digit model run by ONNX Runtime: the same interface as
    :class:`~mnistlib.prediction.Predictor`."""

    def __init__(self, path: str | os.PathLike[str], temperature: float = 1.0) -> None:
        self.path = require_nonempty_file(path, ModelFileError, ModelFileError, kind="model file")
        self.temperature = temperature
        self.session = onnx_session(self.path)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        one_image = [IMAGE_SIDE, IMAGE_SIDE, 1]
        if len(inputs) != 1 or list(inputs[0].shape[1:]) != one_image or len(outputs) != 1:
            raise ModelFileError(
                f"{self.path}: not a digit model (inputs {[i.shape for i in inputs]}; "
                "expected one input of shape (n, 28, 28, 1))"
            )
        if list(outputs[0].shape[1:]) != [NUM_CLASSES]:
            raise ModelFileError(
                f"{self.path}: not a digit model (output shape {outputs[0].shape}; "
                "expected ten probabilities per image)"
            )
        self.input_name = inputs[0].name
        require_probabilities(self, self.path)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]


@dataclass(frozen=True)
class ParityCheck:
    """How closely an exported model agrees with the original on the same images."""

    images: int
    same_digit: int  # images for which both give the same most probable digit
    max_difference: float  # largest difference between two probabilities

    @property
    def passed(self) -> bool:
        return self.same_digit == self.images and self.max_difference <= TOLERANCE


def check_onnx(model: keras.Model, path: str | os.PathLike[str], images: np.ndarray) -> ParityCheck:
    """Compare the Keras model with its ONNX export on ``images`` (both in batches)."""
    keras_reader, onnx_reader = Predictor(model), OnnxPredictor(path)
    batches = range(0, len(images), 1000)
    expected = np.concatenate([keras_reader.probabilities(images[i : i + 1000]) for i in batches])
    got = np.concatenate([onnx_reader.probabilities(images[i : i + 1000]) for i in batches])
    return ParityCheck(
        images=len(expected),
        same_digit=int(np.sum(expected.argmax(axis=1) == got.argmax(axis=1))),
        max_difference=float(np.abs(expected - got).max()),
    )


def ensure_onnx(
    model: keras.Model, path: str | os.PathLike[str], images: np.ndarray
) -> ParityCheck:
    """Make ``path`` an ONNX export of ``model`` that passes :func:`check_onnx` on ``images``.

    A file already there that passes is kept as it is (two exports of the
    same model differ in a few bytes of metadata, so exporting every time
    would change the file for nothing); a missing, unreadable or different
    one is exported again and checked.
    """
    if Path(path).is_file():
        try:
            check = check_onnx(model, path, images)
        except ModelFileError:
            pass
        else:
            if check.passed:
                return check
    export_onnx(model, path)
    return check_onnx(model, path, images)
