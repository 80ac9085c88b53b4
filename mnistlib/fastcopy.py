"""The fast copy of a book model: a checked ONNX file that ``predict`` runs without TensorFlow.

Importing TensorFlow takes seconds and a gigabyte of memory, far more than
reading one digit needs. So ``python -m mnistlib train`` also exports the
trained model to ONNX beside it in the model store (``NAME.onnx``), checks the
export against Keras on the 10,000 test images, and writes a record
(``NAME.onnx.json``). ``predict`` then reads with ONNX Runtime, and imports
no TensorFlow, whenever the copy is *current*:

- the record's settings are the book's settings for that model today;
- the ``.keras`` file it was exported from is still in the store, unchanged;
- the ONNX file is unchanged, and gave the same digit as Keras on every test image;
- its temperature (:mod:`mnistlib.calibration`, fitted on the validation split) is sane;
- the library's training code and the versions of TensorFlow, Keras and
  NumPy are those that trained it (any change could train another model).

Each of these is checked from files alone (hashes and package metadata).
When one fails, ``predict`` reads with Keras, as before, and writes a new copy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnistlib import __version__
from mnistlib.calibration import TEMPERATURES
from mnistlib.configs import book_config
from mnistlib.store import atomic_write, file_sha256, model_dir

if TYPE_CHECKING:
    from mnistlib.export import ParityCheck
    from mnistlib.training import TrainedModel

__all__ = ["FastCopy", "current_fast_copy", "fast_copy_path", "onnx_available", "write_fast_copy"]

#: The library's modules whose code decides which model a training produces (and its temperature).
TRAINING_MODULES = ("cache", "calibration", "configs", "data", "fitkey", "models", "training")
#: The packages whose versions decide it too (the starting weights, the arithmetic).
TRAINING_PACKAGES = ("tensorflow", "keras", "numpy")


@dataclass(frozen=True)
class FastCopy:
    """A current fast copy: the ONNX file, and the temperature that calibrates its answers."""

    path: Path
    temperature: float  # 1 for a model that has no fitted temperature


def fast_copy_path(name: str) -> Path:
    """Where the fast copy of the book model ``name`` lives: ``NAME.onnx`` in the model store."""
    return model_dir() / f"{name}.onnx"


def _record_path(name: str) -> Path:
    return fast_copy_path(name).with_suffix(".onnx.json")


def onnx_available() -> bool:
    """Whether ONNX Runtime and the exporter are installed (the ``onnx`` extra)."""
    return all(find_spec(module) is not None for module in ("onnxruntime", "tf2onnx"))


def training_fingerprint(
    modules: tuple[str, ...] = TRAINING_MODULES, packages: tuple[str, ...] = TRAINING_PACKAGES
) -> dict[str, Any]:
    """What, besides the settings, decides a trained model: our ``modules``' code and the
    versions of ``packages``."""
    package = Path(__file__).resolve().parent
    code = hashlib.sha256()
    for module in modules:
        code.update((package / f"{module}.py").read_bytes())
    return {
        "mnistlib": __version__,
        "training_code_sha256": code.hexdigest(),
        **{name: _version(name) for name in packages},
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _settings(name: str) -> Any:
    """The book's settings of ``name`` as JSON reads them back (tuples become lists)."""
    return json.loads(json.dumps(asdict(book_config(name))))


def write_fast_copy(name: str, trained: TrainedModel) -> ParityCheck:
    """Export the book model ``name`` (``trained``) to its fast copy, check it, and record it.

    The record is written only when the export gave the same digit as Keras
    on every test image, with every probability within the export's
    tolerance; otherwise the old record is removed and ``predict`` keeps
    using Keras.
    """
    from mnistlib.export import ensure_onnx

    path, record_path = fast_copy_path(name), _record_path(name)
    record_path.unlink(missing_ok=True)  # no record points at a copy being replaced
    check = ensure_onnx(trained.model, path, trained.data.x_test)
    if check.passed:
        record = {
            "model": name,
            "settings": _settings(name),
            "keras_file": trained.path.name,
            "keras_sha256": file_sha256(trained.path),
            "onnx_sha256": file_sha256(path),
            "parity": {**asdict(check), "passed": True},
            "temperature": trained.temperature,
            "trained_by": training_fingerprint(),
        }
        atomic_write(record_path, lambda p: p.write_text(json.dumps(record, indent=2) + "\n"))
    return check


def current_fast_copy(name: str) -> FastCopy | None:
    """The fast copy of the book model ``name`` if it is current (see above), else ``None``.

    Reads files only: it imports neither TensorFlow nor ONNX Runtime.
    """
    path, record_path = fast_copy_path(name), _record_path(name)
    try:
        record = json.loads(record_path.read_text())
        keras_file = model_dir() / Path(str(record["keras_file"])).name
        temperature = 1.0 if record["temperature"] is None else float(record["temperature"])
        current = (
            record["model"] == name
            and record["settings"] == _settings(name)
            and record["parity"]["passed"] is True
            and TEMPERATURES[0] <= temperature <= TEMPERATURES[1]
            and record["trained_by"] == training_fingerprint()
            and record["onnx_sha256"] == file_sha256(path)
            and record["keras_sha256"] == file_sha256(keras_file)
        )
    except (OSError, ValueError, KeyError, TypeError):  # missing, damaged or foreign
        return None
    return FastCopy(path, temperature) if current else None
