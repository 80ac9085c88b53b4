"""Tests of mnistlib.data: finding, reading and checking MNIST, and preparing arrays."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from conftest import IDX_STEMS, idx_bytes, peak_memory_of, tiny_arrays, write_idx_folder

import mnistlib.data
from mnistlib.data import (
    MnistDataError,
    MnistNotFoundError,
    add_channel_axis,
    find_mnist,
    load_mnist,
    one_hot,
    read_idx,
    scale_pixels,
    split_validation,
)

# --------------------------------------------------------------------- loading


def assert_same(loaded, arrays) -> None:
    (x_train, y_train), (x_test, y_test) = loaded
    np.testing.assert_array_equal(x_train, arrays["train_images"])
    np.testing.assert_array_equal(y_train, arrays["train_labels"])
    np.testing.assert_array_equal(x_test, arrays["test_images"])
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8


def test_loads_gzipped_idx_folder(idx_folder, arrays):
    assert_same(load_mnist(idx_folder, verify=False), arrays)


def test_loads_raw_idx_folder(tmp_path, arrays):
    folder = write_idx_folder(tmp_path / "raw", arrays, gz=False)
    assert_same(load_mnist(folder, verify=False), arrays)


def test_loads_dotted_names_of_other_distributions(tmp_path, arrays):
    folder = write_idx_folder(tmp_path / "dotted", arrays, gz=False)
    for stem in IDX_STEMS.values():
        (folder / stem).rename(folder / stem.replace("-idx", ".idx"))
    assert_same(load_mnist(folder, verify=False), arrays)


def test_loads_keras_npz(tmp_path, arrays):
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=arrays["train_images"],
        y_train=arrays["train_labels"],
        x_test=arrays["test_images"],
        y_test=arrays["test_labels"],
    )
    assert_same(load_mnist(path, verify=False), arrays)
    assert_same(load_mnist(tmp_path, verify=False), arrays)  # a folder holding mnist.npz


def test_mnist_data_variable_is_used(monkeypatch, isolated, idx_folder, arrays):
    monkeypatch.setenv("MNIST_DATA", str(idx_folder))
    assert find_mnist().found_by == "MNIST_DATA"
    assert_same(load_mnist(verify=False), arrays)


def test_argument_wins_over_variable(monkeypatch, isolated, tmp_path, idx_folder):
    other = write_idx_folder(tmp_path / "other", tiny_arrays(seed=1))
    monkeypatch.setenv("MNIST_DATA", str(other))
    assert find_mnist(idx_folder).path == idx_folder


def test_local_folder_then_keras_cache(monkeypatch, isolated, tmp_path, arrays):
    local = write_idx_folder(tmp_path / "data" / "mnist", arrays)
    monkeypatch.setattr(mnistlib.data, "_local_folders", lambda: [local])
    assert find_mnist().found_by == "local folder"
    monkeypatch.setattr(mnistlib.data, "_local_folders", lambda: [tmp_path / "nothing"])
    assert find_mnist() is None
    cache = tmp_path / "keras-home" / "datasets" / "mnist.npz"
    cache.parent.mkdir(parents=True)
    np.savez(
        cache,
        x_train=arrays["train_images"],
        y_train=arrays["train_labels"],
        x_test=arrays["test_images"],
        y_test=arrays["test_labels"],
    )
    assert find_mnist().found_by == "Keras cache"
    assert_same(load_mnist(verify=False), arrays)


def test_real_mnist_is_canonical():
    """The real data set, wherever the environment keeps it (CI sets MNIST_DATA)."""
    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    (x_train, y_train), (x_test, _) = load_mnist()  # checksums verified
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert list(np.bincount(y_train)) == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert round(float(x_train.mean()), 4) == 33.3184


# ------------------------------------------------------------------ bad input


def damage(folder: Path, key: str, content: bytes, gz: bool = True) -> Path:
    """Replace one file of ``folder`` with ``content`` and return its path."""
    path = folder / f"{IDX_STEMS[key]}.gz"
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def test_truncated_file(idx_folder, arrays):
    path = damage(idx_folder, "train_images", idx_bytes(arrays["train_images"])[:-100])
    with pytest.raises(MnistDataError, match="truncated") as error:
        load_mnist(idx_folder, verify=False)
    assert str(path) in str(error.value)


def test_truncated_gzip_stream(idx_folder, arrays):
    path = idx_folder / f"{IDX_STEMS['test_images']}.gz"
    path.write_bytes(gzip.compress(idx_bytes(arrays["test_images"]))[:-200])
    with pytest.raises(MnistDataError, match="truncated") as error:
        load_mnist(idx_folder, verify=False)
    assert str(path) in str(error.value)


def test_wrong_magic_number(idx_folder, arrays):
    # a label file where images belong: valid IDX, wrong kind
    path = damage(idx_folder, "train_images", idx_bytes(arrays["train_labels"]))
    with pytest.raises(MnistDataError, match="wrong magic number 2049") as error:
        load_mnist(idx_folder, verify=False)
    assert str(path) in str(error.value)


def test_foreign_file(idx_folder):
    path = damage(idx_folder, "test_labels", b"<html>404 Not Found</html>")
    with pytest.raises(MnistDataError, match="not an IDX file") as error:
        load_mnist(idx_folder, verify=False)
    assert str(path) in str(error.value)


def test_wrong_image_size(idx_folder):
    path = damage(idx_folder, "train_images", idx_bytes(np.zeros((30, 32, 32), np.uint8)))
    with pytest.raises(MnistDataError, match="32x32, expected 28x28") as error:
        load_mnist(idx_folder, verify=False)
    assert str(path) in str(error.value)


def test_huge_count_in_header_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(
        idx_bytes(np.zeros((1, 28, 28), np.uint8))[:4]
        + (2_000_000_000).to_bytes(4, "big")
        + (28).to_bytes(4, "big") * 2
    )
    with pytest.raises(MnistDataError, match="announces 2,000,000,000 items"):
        read_idx(path)


def test_extra_bytes(idx_folder, arrays):
    damage(idx_folder, "train_labels", idx_bytes(arrays["train_labels"]) + b"\0\0")
    with pytest.raises(MnistDataError, match="extra bytes"):
        load_mnist(idx_folder, verify=False)


def test_image_and_label_counts_differ(idx_folder, arrays):
    damage(idx_folder, "test_labels", idx_bytes(arrays["test_labels"][:-1]))
    with pytest.raises(MnistDataError, match="20 images but 19 labels") as error:
        load_mnist(idx_folder, verify=False)
    assert str(idx_folder) in str(error.value)


def test_label_ten(idx_folder, arrays):
    labels = arrays["train_labels"].copy()
    labels[7] = 10
    damage(idx_folder, "train_labels", idx_bytes(labels))
    with pytest.raises(MnistDataError, match="label #7 is 10, labels must be 0 to 9"):
        load_mnist(idx_folder, verify=False)


def test_empty_file(idx_folder):
    path = idx_folder / f"{IDX_STEMS['train_labels']}.gz"
    path.write_bytes(b"")
    with pytest.raises(MnistDataError, match="empty") as error:
        load_mnist(idx_folder, verify=False)
    assert str(path) in str(error.value)


def test_gz_that_is_not_gzip(idx_folder, arrays):
    path = damage(idx_folder, "train_labels", idx_bytes(arrays["train_labels"]), gz=False)
    with pytest.raises(MnistDataError, match="not a gzip file") as error:
        load_mnist(idx_folder, verify=False)
    assert str(path) in str(error.value)


def test_npz_with_pickled_object_is_refused(tmp_path, arrays):
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=np.array([{"evil": "object"}], dtype=object),
        y_train=arrays["train_labels"],
        x_test=arrays["test_images"],
        y_test=arrays["test_labels"],
    )
    with pytest.raises(MnistDataError, match="pickled") as error:
        load_mnist(path, verify=False)
    assert str(path) in str(error.value)


def test_npz_that_is_not_a_zip(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(MnistDataError, match=r"not a readable \.npz"):
        load_mnist(path, verify=False)


def test_npz_missing_arrays(tmp_path, arrays):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=arrays["train_images"])
    with pytest.raises(MnistDataError, match="missing arrays"):
        load_mnist(path, verify=False)


def test_folder_missing_one_file(idx_folder):
    (idx_folder / f"{IDX_STEMS['test_labels']}.gz").unlink()
    with pytest.raises(MnistNotFoundError, match="missing t10k-labels-idx1-ubyte") as error:
        load_mnist(idx_folder, verify=False)
    assert str(idx_folder) in str(error.value)


def test_checksum_mismatch(idx_folder):
    with pytest.raises(MnistDataError, match="canonical") as error:
        load_mnist(idx_folder)  # tiny random data is not MNIST
    assert "train-images-idx3-ubyte" in str(error.value)
    assert "verify=False" in str(error.value)


def test_named_place_without_data(tmp_path):
    with pytest.raises(MnistNotFoundError, match="no MNIST files there"):
        load_mnist(tmp_path)


def test_offline_without_data_says_where_to_put_it(isolated, monkeypatch):
    with pytest.raises(MnistNotFoundError) as error:
        load_mnist(download=False)
    message = str(error.value)
    assert "MNIST_DATA" in message and "data/mnist" in message and "mnist.npz" in message


def test_failed_download_says_where_to_put_it(isolated, monkeypatch):
    from keras.datasets import mnist

    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(mnist, "load_data", offline)
    with pytest.raises(MnistNotFoundError, match="MNIST_DATA") as error:
        load_mnist()
    assert "name resolution" in str(error.value)


def test_nothing_written_on_error(idx_folder, arrays):
    before = {p: p.read_bytes() for p in idx_folder.iterdir()}
    damage(idx_folder, "test_labels", b"")
    before[idx_folder / f"{IDX_STEMS['test_labels']}.gz"] = gzip.compress(b"")
    with pytest.raises(MnistDataError):
        load_mnist(idx_folder, verify=False)
    assert {p: p.read_bytes() for p in idx_folder.iterdir()} == before


# ------------------------------------------------------------------ preparing


def test_scale_pixels():
    images = np.array([[0, 51, 255]], dtype=np.uint8)
    scaled = scale_pixels(images)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, [[0.0, 0.2, 1.0]])


def test_add_channel_axis():
    assert add_channel_axis(np.zeros((5, 28, 28))).shape == (5, 28, 28, 1)


def test_one_hot():
    encoded = one_hot(np.array([0, 3, 9]))
    assert encoded.shape == (3, 10)
    np.testing.assert_array_equal(encoded.argmax(axis=1), [0, 3, 9])
    np.testing.assert_array_equal(encoded.sum(axis=1), [1, 1, 1])


def test_split_validation_is_seeded_and_stratified():
    images = np.arange(1000 * 4).reshape(1000, 2, 2)
    labels = np.repeat(np.arange(10), 100)
    (x_fit, _), (x_val, y_val) = split_validation(images, labels, fraction=0.2, seed=3)
    assert len(x_val) == 200 and len(x_fit) == 800
    assert list(np.bincount(y_val)) == [20] * 10
    (_, _), (x_val_again, _) = split_validation(images, labels, fraction=0.2, seed=3)
    np.testing.assert_array_equal(x_val, x_val_again)
    together = np.sort(np.concatenate([x_fit[:, 0, 0], x_val[:, 0, 0]]))
    np.testing.assert_array_equal(together, images[:, 0, 0])


def test_a_download_that_never_answers_times_out_and_says_where_to_put_the_files(tmp_path):
    """Issue 20, defect 1: behind a proxy that accepts and stays silent, the download hung."""
    import os
    import socket
    import subprocess
    import sys

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in {"mnist_data", "no_proxy", "https_proxy", "http_proxy"}
    }
    env.update(KERAS_HOME=str(tmp_path / "keras"), HTTPS_PROXY=f"http://127.0.0.1:{port}")
    program = "import mnistlib.data as data\ndata.DOWNLOAD_TIMEOUT = 2\ndata.load_mnist()\n"
    try:
        result = subprocess.run(
            [sys.executable, "-c", program],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    finally:
        silent.close()
    assert result.returncode != 0
    assert "MnistNotFoundError" in result.stderr and "timed out" in result.stderr
    assert "MNIST_DATA" in result.stderr  # where to put the files


def npy_bytes_claiming(shape: tuple[int, ...], payload: bytes = b"\0" * 64) -> bytes:
    """A .npy member whose header claims ``shape`` of uint8, followed by ``payload`` only."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|u1", "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + payload


def npz_with_x_train(path, arrays, x_train: bytes, zeros: int = 0):
    """Keras's mnist.npz with its x_train member replaced by ``x_train``'s bytes.

    ``zeros`` more zero bytes follow, streamed (they compress about 1000 to 1).
    """
    import io
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x_train.npy", "w", force_zip64=True) as member:
            member.write(x_train)
            chunk = bytes(2**24)
            for start in range(0, zeros, len(chunk)):
                member.write(chunk[: min(len(chunk), zeros - start)])
        for key, name in {"train_labels": "y_train", "test_images": "x_test"}.items():
            buffer = io.BytesIO()
            np.save(buffer, arrays[key])
            archive.writestr(f"{name}.npy", buffer.getvalue())
        buffer = io.BytesIO()
        np.save(buffer, arrays["test_labels"])
        archive.writestr("y_test.npy", buffer.getvalue())
    return path


def peak_memory_of_loading(path) -> tuple[str, float]:
    """Load ``path`` in a fresh process: (its error message, its peak memory in MiB)."""
    return peak_memory_of(
        "from mnistlib.data import load_mnist",
        f"load_mnist({str(path)!r}, verify=False, download=False)",
    )


@pytest.mark.parametrize(
    ("shape", "zeros", "refusal"),
    [
        # two million images, 1.5 GiB, all there in a 1.5 MB file
        ((2_000_000, 28, 28), 2_000_000 * 784, "header announces 2,000,000 items"),
        ((5_000_000, 28, 28), 64, "header announces 5,000,000 items"),  # 3.9 GB claimed
        ((1_000_000, 1000, 1000), 64, "images are 1000x1000"),  # 931 GiB claimed
        ((60_000, 28, 28, 28), 64, "x_train has shape (60000, 28, 28, 28)"),
    ],
)
def test_an_npz_claiming_a_huge_array_is_refused_before_allocating(
    tmp_path, arrays, shape, zeros, refusal
):
    """Issue 20, defect 2: 3.9 GB claimed in a 5.5 MB file went past 3 GB of memory."""
    claim = npy_bytes_claiming(shape, payload=b"")
    path = npz_with_x_train(tmp_path / "mnist.npz", arrays, claim, zeros=zeros)
    message, peak_mib = peak_memory_of_loading(path)
    assert message.startswith("MnistDataError") and refusal in message and str(path) in message
    assert peak_mib < 1024, f"peak memory {peak_mib:.0f} MiB"


def test_a_truncated_npz_member_is_called_truncated(tmp_path, arrays):
    """Issue 20, defect 2: a cut member was reported as "pickled objects"."""
    claimed = npy_bytes_claiming((30, 28, 28), payload=b"\0" * 100)  # 23,520 bytes claimed
    path = npz_with_x_train(tmp_path / "mnist.npz", arrays, claimed)
    with pytest.raises(MnistDataError, match="x_train is truncated") as error:
        load_mnist(path, verify=False, download=False)
    assert "pickled" not in str(error.value)


def test_an_empty_path_is_an_error_not_a_silent_default(monkeypatch, idx_folder):
    """Issue 20, defect 10: load_mnist("") quietly used MNIST_DATA instead."""
    monkeypatch.setenv("MNIST_DATA", str(idx_folder))
    with pytest.raises(MnistNotFoundError, match="an empty path"):
        load_mnist("", verify=False)
