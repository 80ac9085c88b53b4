"""Is it a digit at all? The book's detector network and its verdict.

A digit network names a digit for any picture. The chapter "Predict your own
digits" compares ways to say "not a digit" and chooses a small detector
network (:func:`mnistlib.models.build_digit_detector`) trained on MNIST digits
and on drawn non-digits (:mod:`mnistlib.nondigits`). This module trains it
exactly as the chapter does, so that both find the same model in the cache,
and gives the command line its verdict:

- :func:`train_digit_detector` trains (or reuses) the detector and sets its
  threshold on the validation digits: :data:`REJECT_SHARE` of them score below.
  Its digits, like its non-digits, go through the picture pipeline
  (:func:`mnistlib.images.preprocess_batch`), as every picture ``predict`` reads does:
  a detector that saw raw MNIST digits could learn the pipeline's traces instead;
- :func:`write_detector_record` keeps the threshold beside the model in the
  store (``digit-detector.json``), with an ONNX copy that needs no TensorFlow;
- :func:`stored_digit_check` reads that record back, checked like a fast copy
  (:mod:`mnistlib.fastcopy`), and :class:`DigitCheck` gives each picture
  the verdict ``"digit"`` or ``"not a digit"``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mnistlib.fastcopy import onnx_available, training_fingerprint
from mnistlib.prediction import ModelFileError, Predictor, image_batch
from mnistlib.store import atomic_write, file_sha256, model_dir

if TYPE_CHECKING:
    import keras

    from mnistlib.cache import CachedHistory
    from mnistlib.training import Prepared

__all__ = [
    "DIGIT",
    "NOT_A_DIGIT",
    "REJECT_SHARE",
    "DigitCheck",
    "TrainedDetector",
    "detector_record_path",
    "stored_digit_check",
    "train_digit_detector",
    "write_detector_record",
]

DIGIT, NOT_A_DIGIT = "digit", "not a digit"
#: The share of the validation digits whose score falls below the threshold:
#: the target of at most 1 % of real digits rejected, minus two standard errors.
REJECT_SHARE = 0.0075
#: The code whose change could train another detector: ours (the drawings
#: among it) and the packages that draw, train and compute.
DETECTOR_MODULES = ("cache", "data", "detector", "fitkey", "images", "models", "nondigits")
DETECTOR_PACKAGES = ("tensorflow", "keras", "numpy", "matplotlib", "pillow")
#: How far an ONNX score may stray from the Keras score of the same picture.
SCORE_TOLERANCE = 1e-5


@dataclass(frozen=True)
class TrainedDetector:
    """The trained detector, where the cache keeps it, and its threshold."""

    model: keras.Model
    history: CachedHistory
    threshold: float


def train_digit_detector(data: Prepared, verbose: bool = False) -> TrainedDetector:
    """Train (or reuse) the detector exactly as the chapter does, and set its threshold."""
    import keras

    from mnistlib.cache import cached_fit
    from mnistlib.images import preprocess_batch
    from mnistlib.models import build_digit_detector
    from mnistlib.nondigits import non_digits

    x_learn, _ = non_digits(9000, seed=0)  # the training fonts
    x_learn = np.concatenate([x_learn, x_learn[:, :, ::-1], x_learn[:, ::-1]])
    x_detector = np.concatenate([preprocess_batch(data.x_fit[:30000]), x_learn])
    y_detector = np.concatenate([np.ones(30000), np.zeros(len(x_learn))])
    x_check, _ = non_digits(1500, seed=2)
    x_val_pictures = preprocess_batch(data.x_val)
    check = (
        np.concatenate([x_val_pictures, x_check]),
        np.concatenate([np.ones(len(x_val_pictures)), np.zeros(len(x_check))]),
    )
    stop = keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    keras.utils.set_random_seed(0)
    detector = build_digit_detector()
    history = cached_fit(
        detector,
        x_detector,
        y_detector,
        epochs=30,
        batch_size=128,
        validation_data=check,
        callbacks=[stop],
        verbose=int(verbose),
    )
    threshold = float(np.quantile(_keras_scores(detector, x_val_pictures), REJECT_SHARE))
    return TrainedDetector(detector, history, threshold)


def _keras_scores(model: keras.Model, images: np.ndarray) -> np.ndarray:
    return model.predict(images, batch_size=1000, verbose=0)[:, 0]


class DigitCheck:
    """The verdict on pictures: ``"not a digit"`` when the detector's score is below
    the threshold. Takes the same batches as the digit readers
    (:func:`~mnistlib.prediction.image_batch`)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def scores(self, images: Any) -> np.ndarray:
        """The detector's probability that each picture is a digit."""
        batch = image_batch(images)
        if len(batch) == 0:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self._run(batch)).reshape(len(batch))

    def verdicts(self, images: Any) -> list[str]:
        """``"digit"`` or ``"not a digit"`` for each picture."""
        return [DIGIT if s >= self.threshold else NOT_A_DIGIT for s in self.scores(images)]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class KerasDigitCheck(DigitCheck):
    """The verdict of the detector as a Keras model."""

    def __init__(self, model: keras.Model, threshold: float) -> None:
        super().__init__(threshold)
        self._reader = Predictor(model)  # its traced graph; the one output is the score

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self._reader.probabilities(batch)


class OnnxDigitCheck(DigitCheck):
    """The verdict of the detector's ONNX copy, run by ONNX Runtime (no TensorFlow)."""

    def __init__(self, path: str | Path, threshold: float) -> None:
        from mnistlib.export import onnx_session

        super().__init__(threshold)
        self.session = onnx_session(path)
        (self.input_name,) = [i.name for i in self.session.get_inputs()]

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]


def detector_record_path() -> Path:
    """The detector's record in the model store: ``digit-detector.json``."""
    return model_dir() / "digit-detector.json"


def _onnx_path() -> Path:
    return model_dir() / "digit-detector.onnx"


def _fingerprint() -> dict[str, Any]:
    return training_fingerprint(DETECTOR_MODULES, DETECTOR_PACKAGES)


def write_detector_record(trained: TrainedDetector, data: Prepared) -> bool:
    """Keep the threshold beside the stored detector, with an ONNX copy when ONNX is
    installed and the copy gives the same scores on the validation and test digits.

    Returns whether the ONNX copy is usable. A record that already describes
    ``trained`` (same files, threshold, code and packages) is left as it is.
    """
    from mnistlib.export import export_onnx

    if _record_describes(trained):
        return onnx_available()
    record_path = detector_record_path()
    record_path.unlink(missing_ok=True)  # no record points at files being replaced
    record: dict[str, Any] = {
        "keras_file": trained.history.path.name,
        "keras_sha256": file_sha256(trained.history.path),
        "threshold": trained.threshold,
        "reject_share": REJECT_SHARE,
        "trained_by": _fingerprint(),
        "onnx_sha256": None,
    }
    if onnx_available():
        images = np.concatenate([data.x_val, data.x_test])
        export_onnx(trained.model, _onnx_path())
        onnx_scores = OnnxDigitCheck(_onnx_path(), trained.threshold).scores(images)
        keras_scores = _keras_scores(trained.model, images)
        same = np.array_equal(
            onnx_scores >= trained.threshold, keras_scores >= trained.threshold
        ) and bool(np.abs(onnx_scores - keras_scores).max() <= SCORE_TOLERANCE)
        if same:
            record["onnx_sha256"] = file_sha256(_onnx_path())
    text = json.dumps(record, indent=2) + "\n"
    atomic_write(record_path, lambda path: path.write_text(text))
    return record["onnx_sha256"] is not None


def _record_describes(trained: TrainedDetector) -> bool:
    """Whether the stored record is current, is ``trained``'s, and has its checked ONNX copy
    (where ONNX is installed)."""
    try:
        record = json.loads(detector_record_path().read_text())
        same = (
            record["keras_file"] == trained.history.path.name
            and record["keras_sha256"] == file_sha256(trained.history.path)
            and record["threshold"] == trained.threshold
            and record["trained_by"] == _fingerprint()
        )
        onnx_sha256 = record["onnx_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not onnx_available():
        return same
    return same and isinstance(onnx_sha256, str) and _unchanged(onnx_sha256)


def stored_digit_check(onnx: bool = True) -> DigitCheck | None:
    """The verdict of the stored detector, or ``None`` when there is none that is current.

    Current means: its record is sound, its threshold a probability, the
    files unchanged since the record was written, and the code and packages
    that trained it are those installed now. With ``onnx`` and a checked ONNX
    copy, it runs in ONNX Runtime; otherwise in Keras.
    """
    try:
        record = json.loads(detector_record_path().read_text())
        keras_file = model_dir() / Path(str(record["keras_file"])).name
        threshold = float(record["threshold"])
        current = (
            0.0 < threshold < 1.0
            and math.isfinite(threshold)
            and record["trained_by"] == _fingerprint()
            and record["keras_sha256"] == file_sha256(keras_file)
        )
        onnx_sha256 = record["onnx_sha256"]
    except (OSError, ValueError, KeyError, TypeError):  # missing, damaged or foreign
        return None
    if not current:
        return None
    use_onnx = onnx and onnx_available() and onnx_sha256 is not None and _unchanged(onnx_sha256)
    try:
        if use_onnx:
            return OnnxDigitCheck(_onnx_path(), threshold)
        return KerasDigitCheck(_load_detector(keras_file), threshold)
    except ModelFileError:
        return None


def _unchanged(onnx_sha256: str) -> bool:
    """Whether the ONNX copy is there and is the file the record checked."""
    try:
        return file_sha256(_onnx_path()) == onnx_sha256
    except OSError:
        return False


def _load_detector(path: Path) -> keras.Model:
    """The stored detector (Keras's safe mode on), or ``ModelFileError``."""
    import keras

    try:
        model = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for a damaged archive
        raise ModelFileError(f"{path}: damaged or not a Keras model ({error})") from error
    if tuple(model.input_shape[1:]) != (28, 28, 1) or tuple(model.output_shape[1:]) != (1,):
        raise ModelFileError(f"{path}: not the digit detector")
    return model
