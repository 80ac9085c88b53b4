"""Shared fixtures: tiny MNIST-like data sets that the tests write themselves."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

IDX_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode ``array`` as an IDX file (header, then raw bytes)."""
    magic = (0x08 << 8) | array.ndim if magic is None else magic
    return struct.pack(f">i{array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


def tiny_arrays(n_train: int = 30, n_test: int = 20, seed: int = 0) -> dict[str, np.ndarray]:
    """Random 28x28 images and labels covering every digit."""
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_idx_folder(folder: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> Path:
    """Write the four IDX files of ``arrays`` into ``folder`` (gzipped or raw)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, array in arrays.items():
        content = idx_bytes(array)
        if gz:
            (folder / f"{IDX_STEMS[key]}.gz").write_bytes(gzip.compress(content))
        else:
            (folder / IDX_STEMS[key]).write_bytes(content)
    return folder


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    return tiny_arrays()


@pytest.fixture
def idx_folder(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Path:
    return write_idx_folder(tmp_path / "mnist", arrays)


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[], None]:
    """No MNIST anywhere: no MNIST_DATA, no local folder, an empty Keras cache."""
    import mnistlib.data

    monkeypatch.delenv("MNIST_DATA", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(mnistlib.data, "_local_folders", lambda: [tmp_path / "no-data"])
    return lambda: None


@pytest.fixture(scope="session")
def mnist_test_images() -> np.ndarray:
    """The real MNIST test images (uint8, 10000x28x28); the test is skipped without MNIST."""
    from mnistlib.data import find_mnist, load_mnist

    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    return load_mnist()[1][0]
