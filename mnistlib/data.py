"""Find, read and check the MNIST data set.

MNIST is shipped as four files in the IDX format (LeCun et al.): a small
big-endian header (a magic number, then one 32-bit size per dimension)
followed by the raw ``uint8`` values. Keras ships the same arrays as one
``mnist.npz``. :func:`load_mnist` reads either, checks everything it can and
returns NumPy arrays; :func:`find_mnist` says where it would read them from.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import socket
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from mnistlib.files import require_nonempty_file

__all__ = [
    "CANONICAL_SHA256",
    "MnistDataError",
    "MnistNotFoundError",
    "MnistSource",
    "add_channel_axis",
    "data_fingerprint",
    "find_mnist",
    "load_mnist",
    "one_hot",
    "read_idx",
    "scale_pixels",
    "split_validation",
]

IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, three dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, one dimension
IMAGE_SIDE = 28
NUM_CLASSES = 10
#: One image as the models take it: 28x28 pixels, one grey channel.
INPUT_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)

#: The four files of each split, by the names LeCun's site gave them.
IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: SHA-256 of the uncompressed IDX content of each original file.
CANONICAL_SHA256 = {
    "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Keys of Keras's ``mnist.npz``, in the order of :data:`IDX_NAMES`.
NPZ_KEYS = {
    "train_images": "x_train",
    "train_labels": "y_train",
    "test_images": "x_test",
    "test_labels": "y_test",
}

#: A header may announce at most this many items (MNIST has 60,000), so that
#: a foreign file cannot make us allocate gigabytes before we notice.
MAX_ITEMS = 1_000_000

NO_DATA_HELP = (
    "MNIST was not found and could not be downloaded.\n"
    "Supply it in one of these ways:\n"
    "  * pass the folder (or an mnist.npz file) to load_mnist(path=...);\n"
    "  * set the environment variable MNIST_DATA to that folder;\n"
    "  * put the four files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
    "    t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (gzipped or not)\n"
    "    in a folder data/mnist/ of the project;\n"
    "  * or connect to the internet once, so that Keras can download mnist.npz\n"
    "    into its cache ({cache})."
)

Split = tuple[np.ndarray, np.ndarray]


class MnistDataError(ValueError):
    """A data file exists but is not valid MNIST; the message names the file."""


class MnistNotFoundError(FileNotFoundError):
    """No MNIST data could be found or downloaded."""


@dataclass(frozen=True)
class MnistSource:
    """Where the data comes from: a folder of IDX files or an ``.npz`` file."""

    path: Path
    kind: str  # "idx" or "npz"
    found_by: str  # "argument", "MNIST_DATA", "local folder", "Keras cache"

    def __str__(self) -> str:
        return f"{self.path} ({self.kind}, from {self.found_by})"


# --------------------------------------------------------------------------
# Reading one IDX file
# --------------------------------------------------------------------------


def _open_maybe_gzip(path: Path) -> IO[bytes]:
    """Open ``path`` for reading, decompressing it if it starts like gzip."""
    with path.open("rb") as probe:
        head = probe.read(2)
    if head == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if path.suffix == ".gz":
        raise MnistDataError(f"{path}: named .gz but is not a gzip file")
    return path.open("rb")


def _read_exactly(stream: IO[bytes], size: int, path: Path, what: str) -> bytes:
    """Read ``size`` bytes or fail with a message saying the file is truncated."""
    try:
        data = stream.read(size)
    except (OSError, EOFError, zlib.error) as error:
        raise MnistDataError(f"{path}: damaged or truncated gzip data ({error})") from error
    if len(data) != size:
        raise MnistDataError(
            f"{path}: truncated: expected {size:,} bytes of {what}, found {len(data):,}"
        )
    return data


def read_idx(path: str | os.PathLike[str], expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (raw or gzip) into a ``uint8`` array, checking its header.

    The header is a magic number ``0x0000 08 D`` (``08`` = unsigned bytes,
    ``D`` = number of dimensions) followed by ``D`` big-endian 32-bit sizes.
    """
    path = require_nonempty_file(path, missing=MnistNotFoundError, empty=MnistDataError)
    with _open_maybe_gzip(path) as stream:
        (magic,) = struct.unpack(">i", _read_exactly(stream, 4, path, "header"))
        if magic >> 8 != 0x08 or not 1 <= magic & 0xFF <= 3:
            raise MnistDataError(f"{path}: not an IDX file of bytes (magic number {magic})")
        if expected_magic is not None and magic != expected_magic:
            raise MnistDataError(
                f"{path}: wrong magic number {magic}, expected {expected_magic}"
                f" ({'images' if expected_magic == IMAGE_MAGIC else 'labels'})"
            )
        ndim = magic & 0xFF
        shape = struct.unpack(f">{ndim}i", _read_exactly(stream, 4 * ndim, path, "header"))
        _check_shape(path, shape)
        body = _read_exactly(stream, int(np.prod(shape)), path, "data")
        if stream.read(1):
            raise MnistDataError(f"{path}: extra bytes after the {shape} values announced")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _check_shape(path: Path, shape: tuple[int, ...]) -> None:
    """Refuse headers that announce something other than MNIST-sized arrays."""
    if not 0 < shape[0] <= MAX_ITEMS:
        raise MnistDataError(f"{path}: header announces {shape[0]:,} items")
    if len(shape) == 3 and shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise MnistDataError(
            f"{path}: images are {shape[1]}x{shape[2]}, expected {IMAGE_SIDE}x{IMAGE_SIDE}"
        )
    if len(shape) == 2:
        raise MnistDataError(f"{path}: a two-dimensional IDX file is neither images nor labels")


def _idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``: the header, then the raw values."""
    magic = (0x08 << 8) | array.ndim
    header = struct.pack(f">i{array.ndim}i", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def data_fingerprint(array: np.ndarray) -> str:
    """SHA-256 of ``array`` in IDX form, the same whatever file it came from."""
    return hashlib.sha256(_idx_bytes(array)).hexdigest()


# --------------------------------------------------------------------------
# Finding the data
# --------------------------------------------------------------------------


def _idx_file(folder: Path, stem: str) -> Path | None:
    """The file of ``folder`` holding ``stem``, gzipped or raw, with ``-`` or ``.`` before idx."""
    variants = (stem, stem.replace("-idx", ".idx"))
    for name in variants:
        for candidate in (folder / f"{name}.gz", folder / name):
            if candidate.is_file():
                return candidate
    return None


def _source_in(path: Path, found_by: str) -> MnistSource | None:
    """Recognise MNIST at ``path``: an ``.npz`` file, or a folder of IDX files or ``mnist.npz``."""
    if path.is_file():
        return MnistSource(path, "npz", found_by)
    if not path.is_dir():
        return None
    present = {key: _idx_file(path, stem) for key, stem in IDX_NAMES.items()}
    if all(present.values()):
        return MnistSource(path, "idx", found_by)
    if (path / "mnist.npz").is_file():
        return MnistSource(path / "mnist.npz", "npz", found_by)
    if any(present.values()):
        missing = ", ".join(IDX_NAMES[key] for key, file in present.items() if file is None)
        raise MnistNotFoundError(f"{path}: incomplete MNIST folder, missing {missing} (.gz or raw)")
    return None


def keras_cache_file() -> Path:
    """Where ``keras.datasets.mnist.load_data()`` keeps ``mnist.npz``."""
    keras_home = os.environ.get("KERAS_HOME", str(Path.home() / ".keras"))
    return Path(keras_home) / "datasets" / "mnist.npz"


def _local_folders() -> list[Path]:
    """``data/mnist`` under the working directory and under the project root."""
    project_root = Path(__file__).resolve().parent.parent
    folders = [Path.cwd() / "data" / "mnist", project_root / "data" / "mnist"]
    return list(dict.fromkeys(folders))


def find_mnist(path: str | os.PathLike[str] | None = None) -> MnistSource | None:
    """Say where MNIST would be read from, without reading it.

    Order: ``path``, the ``MNIST_DATA`` variable, a ``data/mnist`` folder
    (in the working directory or the project), the Keras cache. Returns
    ``None`` when none holds it (then :func:`load_mnist` tries a download).
    An explicitly named place that holds no MNIST is an error, not a skip.
    """
    if path is not None and not str(path).strip():
        raise MnistNotFoundError("an empty path was given for MNIST; name a folder or a file")
    for named, found_by in ((path, "argument"), (os.environ.get("MNIST_DATA"), "MNIST_DATA")):
        if named:
            source = _source_in(Path(named).expanduser(), found_by)
            if source is None:
                raise MnistNotFoundError(
                    f"{named} (given by {found_by}): no MNIST files there.\n" + _no_data_help()
                )
            return source
    for folder in _local_folders():
        source = _source_in(folder, "local folder")
        if source is not None:
            return source
    cache = keras_cache_file()
    return MnistSource(cache, "npz", "Keras cache") if cache.is_file() else None


def _no_data_help() -> str:
    return NO_DATA_HELP.format(cache=keras_cache_file())


# --------------------------------------------------------------------------
# Loading and checking
# --------------------------------------------------------------------------


def _read_idx_folder(folder: Path) -> dict[str, np.ndarray]:
    arrays = {}
    for key, stem in IDX_NAMES.items():
        file = _idx_file(folder, stem)
        if file is None:
            raise MnistNotFoundError(f"{folder}: missing {stem} (.gz or raw)")
        magic = IMAGE_MAGIC if key.endswith("images") else LABEL_MAGIC
        arrays[key] = read_idx(file, expected_magic=magic)
    return arrays


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read Keras's ``mnist.npz``: each array's header checked before its data is read.

    Arrays of Python objects (pickles) are refused, and so is a header that
    announces another type or shape than MNIST's, before anything is allocated.
    """
    require_nonempty_file(path, missing=MnistNotFoundError, empty=MnistDataError)
    if not zipfile.is_zipfile(path):
        raise MnistDataError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
            missing = [name for name in NPZ_KEYS.values() if f"{name}.npy" not in members]
            if missing:
                raise MnistDataError(f"{path}: not an MNIST .npz, missing arrays {missing}")
            return {
                key: _read_npy_member(path, archive, name, key) for key, name in NPZ_KEYS.items()
            }
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise MnistDataError(f"{path}: not a readable .npz file ({error})") from error


def _read_npy_member(path: Path, archive: zipfile.ZipFile, name: str, key: str) -> np.ndarray:
    """One array of the archive, after its header passed the MNIST checks."""
    from numpy.lib import format as npy

    with archive.open(f"{name}.npy") as member:
        try:
            version = npy.read_magic(member)
            header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, fortran_order, dtype = header(member)
        except ValueError as error:
            raise MnistDataError(f"{path}: {name} is not a NumPy array ({error})") from error
        if dtype.hasobject:
            raise MnistDataError(f"{path}: {name} holds pickled Python objects, refused for safety")
        if dtype != np.uint8:
            raise MnistDataError(f"{path}: {name} has dtype {dtype}, expected uint8")
        if len(shape) != (3 if key.endswith("images") else 1) or fortran_order:
            raise MnistDataError(f"{path}: {name} has shape {shape}")
        _check_shape(path, shape)
        size = int(np.prod(shape))
        data = member.read(size)
    if len(data) != size:
        raise MnistDataError(
            f"{path}: {name} is truncated ({len(data):,} of {size:,} bytes its header announces)"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


def _check_split(where: Path, images: np.ndarray, labels: np.ndarray, split: str) -> None:
    if len(images) != len(labels):
        raise MnistDataError(
            f"{where}: {split} set has {len(images):,} images but {len(labels):,} labels"
        )
    if labels.max(initial=0) >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise MnistDataError(
            f"{where}: {split} label #{bad} is {labels[bad]}, labels must be 0 to {NUM_CLASSES - 1}"
        )


def _verify_checksums(source: MnistSource, arrays: dict[str, np.ndarray]) -> None:
    for key, array in arrays.items():
        actual = data_fingerprint(array)
        if actual != CANONICAL_SHA256[key]:
            where = source.path
            if source.kind == "idx":
                where = _idx_file(source.path, IDX_NAMES[key]) or where
            raise MnistDataError(
                f"{where}: {IDX_NAMES[key]} content has SHA-256 {actual[:16]}..., "
                f"not the canonical {CANONICAL_SHA256[key][:16]}... "
                "(a modified or different data set; pass verify=False to load it anyway)"
            )


#: Seconds the download may wait for the network at any one step (connecting,
#: or the next bytes): a server or proxy that never answers ends in an error.
DOWNLOAD_TIMEOUT = 60.0


def _download_with_keras() -> MnistSource:
    """Let Keras download ``mnist.npz`` into its cache; explain what to do offline.

    Keras's download has no timeout of its own, so the socket default is set
    to :data:`DOWNLOAD_TIMEOUT` while it runs.
    """
    from keras.datasets import mnist  # imported late: TensorFlow is slow to import

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT)
    try:
        mnist.load_data()
    except Exception as error:  # network errors come in many types
        raise MnistNotFoundError(_no_data_help() + f"\n(The download failed: {error})") from error
    finally:
        socket.setdefaulttimeout(previous)
    return MnistSource(keras_cache_file(), "npz", "Keras download")


def load_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    verify: bool = True,
    download: bool = True,
) -> tuple[Split, Split]:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, like Keras does.

    Images are ``uint8`` arrays of shape ``(n, 28, 28)``, labels ``uint8`` in
    0..9. Every file is checked (magic numbers, sizes, counts, label range)
    and, unless ``verify=False`` (for subsets or variants of MNIST), its
    content must match the canonical SHA-256. See :func:`find_mnist` for
    where the data is looked for; with ``download=True`` Keras downloads it
    when it is nowhere else.
    """
    source = find_mnist(path)
    if source is None:
        if not download:
            raise MnistNotFoundError(_no_data_help())
        source = _download_with_keras()
    arrays = _read_idx_folder(source.path) if source.kind == "idx" else _read_npz(source.path)
    _check_split(source.path, arrays["train_images"], arrays["train_labels"], "training")
    _check_split(source.path, arrays["test_images"], arrays["test_labels"], "test")
    if verify:
        _verify_checksums(source, arrays)
    return (
        (arrays["train_images"], arrays["train_labels"]),
        (arrays["test_images"], arrays["test_labels"]),
    )


# --------------------------------------------------------------------------
# Preparing arrays for a network
# --------------------------------------------------------------------------


def scale_pixels(images: np.ndarray) -> np.ndarray:
    """Map ``uint8`` pixels 0..255 to ``float32`` in [0, 1]."""
    return images.astype(np.float32) / 255.0


def add_channel_axis(images: np.ndarray) -> np.ndarray:
    """Turn ``(n, 28, 28)`` into ``(n, 28, 28, 1)``: one grey channel, as Conv2D expects."""
    return images[..., np.newaxis]


def one_hot(labels: np.ndarray) -> np.ndarray:
    """Encode digits as one-hot rows of length 10 with Keras's ``to_categorical``."""
    from keras.utils import to_categorical

    return to_categorical(labels, num_classes=NUM_CLASSES)


def split_validation(
    images: np.ndarray, labels: np.ndarray, fraction: float = 0.1, seed: int = 0
) -> tuple[Split, Split]:
    """Hold out a seeded, stratified ``fraction`` for validation.

    Returns ``(x_fit, y_fit), (x_val, y_val)``. Stratified means each digit
    keeps its share in both parts (scikit-learn's ``train_test_split``).
    """
    from sklearn.model_selection import train_test_split

    x_fit, x_val, y_fit, y_val = train_test_split(
        images, labels, test_size=fraction, random_state=seed, stratify=labels
    )
    return (x_fit, y_fit), (x_val, y_val)
