"""Shared fixtures: tiny MNIST-like data sets that the tests write themselves, the real
MNIST test images where they are available, and the browser tests' server and Chromium."""

from __future__ import annotations

import functools
import gzip
import http.server
import struct
import threading
from collections.abc import Callable, Iterator
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


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model store of the test's own (``MNIST_OUTPUTS`` points at its outputs)."""
    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path / "outputs"))
    folder = tmp_path / "outputs" / "models"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session")
def mnist_test_images() -> np.ndarray:
    """The real MNIST test images (uint8, 10000x28x28); the test is skipped without MNIST."""
    from mnistlib.data import find_mnist, load_mnist

    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    return load_mnist()[1][0]


@pytest.fixture(scope="session")
def book_detector():
    """The book's not-a-digit detector as ``predict`` finds it: (Keras check, ONNX check).

    Read from the model store's record, which the chapter "Predict your own digits"
    writes (``make test`` runs the chapters first); trained and recorded there first
    when it is missing or stale.
    """
    import os

    from mnistlib.data import find_mnist
    from mnistlib.detector import stored_digit_check, train_digit_detector, write_detector_record
    from mnistlib.training import prepare_data

    if find_mnist() is None:
        if os.environ.get("CI"):
            pytest.fail("MNIST is needed for the book's detector")
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    if stored_digit_check(onnx=False) is None:
        data = prepare_data()
        write_detector_record(train_digit_detector(data), data)
    return stored_digit_check(onnx=False), stored_digit_check()


# The browser tests' fixtures (tests/browser): one server and one Chromium for the session.
@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """``_build/html`` served on a free port of 127.0.0.1."""
    from browser.browsing import HTML

    assert (HTML / "index.html").is_file(), "build the book first: make book"
    handler = functools.partial(QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep pytest's output readable
        pass


@pytest.fixture(scope="session")
def browser():
    from browser.browsing import CHROMIUM
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), f"{CHROMIUM}: Chromium not found (apt-get install chromium)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def peak_memory_of(setup: str, call: str) -> tuple[str, float]:
    """Run ``call`` after ``setup`` in a fresh process: (its error or "loaded", peak MiB).

    The peak is the child's own (VmHWM): ``ru_maxrss`` would count the
    parent's memory, inherited through fork.
    """
    import subprocess
    import sys

    program = (
        f"{setup}\n"
        "try:\n"
        f"    {call}\n"
        "    message = 'loaded'\n"
        "except Exception as error:\n"
        "    message = f'{type(error).__name__}: {error}'\n"
        "print(message.replace(chr(10), ' '))\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(status.split('VmHWM:')[1].split()[0]) / 1024)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=300
    )
    message, peak = result.stdout.strip().rsplit("\n", 1)
    return message, float(peak)
