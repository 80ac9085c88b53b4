"""Tests of model-file loading, fast prediction and the predict command."""

from __future__ import annotations

import json
import re
import zipfile

import keras
import numpy as np
import pytest
from conftest import peak_memory_of
from PIL import Image, ImageDraw

from mnistlib.cli import main
from mnistlib.models import build_model
from mnistlib.prediction import ModelFileError, Predictor, load_model_file, predict_files


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "cnn.keras"
    keras.utils.set_random_seed(0)
    build_model("cnn").save(path)
    return path


@pytest.fixture
def pictures(tmp_path):
    good = []
    for index, (x, y) in enumerate([(40, 50), (150, 30)]):
        page = Image.new("L", (320, 300), 235)
        ImageDraw.Draw(page).ellipse([x, y, x + 90, y + 140], outline=15, width=12)
        good.append(tmp_path / f"zero-{index}.png")
        page.save(good[-1])
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return good, bad


def test_predictor_matches_model_predict(model_file):
    model = load_model_file(model_file)
    images = np.random.default_rng(0).random((7, 28, 28)).astype(np.float32)
    fast = Predictor(model).probabilities(images)
    slow = model.predict(images[..., np.newaxis], verbose=0)
    np.testing.assert_allclose(fast, slow, atol=1e-6)
    np.testing.assert_allclose(fast.sum(axis=1), 1.0, rtol=1e-5)


def test_predict_files_reports_bad_and_keeps_going(model_file, pictures):
    good, bad = pictures
    predictions, failures = predict_files(
        Predictor(load_model_file(model_file)), [str(good[0]), str(bad), str(good[1])]
    )
    assert [p.file for p in predictions] == [str(good[0]), str(good[1])]
    assert failures[0][0] == str(bad) and str(bad) in failures[0][1]
    for p in predictions:
        assert 0 <= p.digit <= 9 and p.probability == max(p.probabilities)
        assert sum(p.probabilities) == pytest.approx(1.0, rel=1e-5)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model_file(tmp_path / "absent.keras")


def test_empty_model_file(tmp_path):
    path = tmp_path / "empty.keras"
    path.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        load_model_file(path)


def test_model_file_that_is_not_keras(tmp_path):
    path = tmp_path / "model.keras"
    path.write_text("print('hello')")
    with pytest.raises(ModelFileError, match="not a Keras model file") as error:
        load_model_file(path)
    assert str(path) in str(error.value)


def test_corrupt_model_file(model_file, tmp_path):
    path = tmp_path / "corrupt.keras"
    with zipfile.ZipFile(model_file) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, data[: len(data) // 3] if item.filename.endswith(".h5") else data)
    with pytest.raises(ModelFileError, match="damaged or not a Keras model") as error:
        load_model_file(path)
    assert str(path) in str(error.value)


def test_model_that_would_run_code_is_refused(tmp_path):
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=(1, 2, 3))[:, None] * 0)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(outputs)).save(path)
    with pytest.raises(ModelFileError, match="safe mode") as error:
        load_model_file(path)
    assert str(path) in str(error.value)


def test_model_of_the_wrong_shape(tmp_path):
    inputs = keras.Input((5,))
    path = tmp_path / "other.keras"
    keras.Model(inputs, keras.layers.Dense(3)(inputs)).save(path)
    with pytest.raises(ModelFileError, match="not a digit model"):
        load_model_file(path)


def test_cli_predict_lines_and_exit_status(model_file, pictures, capsys):
    good, bad = pictures
    status = main(
        ["predict", str(good[0]), str(bad), str(good[1]), "--model-file", str(model_file)]
    )
    captured = capsys.readouterr()
    assert status == 1  # one file failed
    lines = captured.out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [str(good[0]), str(good[1])]
    assert str(bad) in captured.err and captured.err.count("error:") == 1


def test_cli_predict_json(model_file, pictures, capsys):
    good, _ = pictures
    assert main(["predict", *map(str, good), "--model-file", str(model_file), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in records] == list(map(str, good))
    assert all(len(r["probabilities"]) == 10 for r in records)


def test_cli_predict_blank_picture_is_not_guessed(model_file, tmp_path, capsys):
    path = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(path)
    assert main(["predict", str(path), "--model-file", str(model_file)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "no digit found" in captured.err


def test_cli_unsafe_model_file_is_an_error(tmp_path, pictures, capsys):
    path = tmp_path / "model.keras"
    path.write_text("not a model")
    assert main(["predict", str(pictures[0][0]), "--model-file", str(path)]) == 1
    assert "not a Keras model file" in capsys.readouterr().err


@pytest.fixture(scope="module")
def both_readers(model_file, tmp_path_factory):
    """The same network read by Keras and by ONNX Runtime."""
    from mnistlib.export import OnnxPredictor, export_onnx

    model = load_model_file(model_file)
    onnx_file = export_onnx(model, tmp_path_factory.mktemp("onnx") / "cnn.onnx")
    return {"keras": Predictor(model), "onnx": OnnxPredictor(onnx_file)}


BAD_BATCHES = {
    "three channels": (np.zeros((1, 28, 28, 3), np.float32), "shape (n, 28, 28) or (n, 28, 28, 1)"),
    "two stacked images": (np.zeros((56, 28), np.float32), "shape (n, 28, 28) or (n, 28, 28, 1)"),
    "one image without its batch axis": (np.zeros(784, np.float32), "shape (n, 28, 28)"),
    "a NaN pixel": (np.where(np.eye(28) > 0, np.nan, 0.0)[None], "NaN or infinite"),
    "0-255 pixels": (np.full((1, 28, 28), 255, np.uint8), "pixels must be in [0, 1]"),
    "text": (np.array([["a"] * 28] * 28)[None], "numbers"),
    "objects": (np.empty((1, 28, 28), object), "numbers"),
}


@pytest.mark.parametrize("reader", ["keras", "onnx"])
@pytest.mark.parametrize("name", list(BAD_BATCHES))
def test_both_readers_refuse_the_same_bad_batches_the_same_way(both_readers, reader, name):
    """Issue 20, defect 10: three predictions from one 3-channel image, two from (56, 28)..."""
    images, message = BAD_BATCHES[name]
    with pytest.raises(ValueError, match=re.escape(message)):
        both_readers[reader].probabilities(images)


@pytest.mark.parametrize("reader", ["keras", "onnx"])
def test_both_readers_take_the_same_good_batches(both_readers, reader):
    read = both_readers[reader].probabilities
    assert read(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)  # no images, no answers
    assert read(np.zeros((2, 28, 28), np.float64)).shape == (2, 10)
    assert read(np.zeros((3, 28, 28, 1), np.uint8)).shape == (3, 10)  # 0 and 1 are pixels too
    assert read([[[0.5] * 28] * 28]).shape == (1, 10)  # nested lists


def test_predict_files_refuses_one_path_given_as_a_string(both_readers):
    """Issue 20, defect 10: predict_files(reader, "a.png") read the characters as files."""
    with pytest.raises(TypeError, match="a list of paths"):
        predict_files(both_readers["keras"], "a.png")


def keras_file_with_config(path, source, change_config):
    """A copy of the .keras archive ``source``, its config.json rewritten by ``change_config``."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as copy:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "config.json":
                data = change_config(data.decode()).encode()
            copy.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def peak_memory_of_model_loading(path) -> tuple[str, float]:
    """``load_model_file(path)`` in a fresh process: its error and peak memory in MiB."""
    return peak_memory_of(
        "from mnistlib.prediction import load_model_file", f"load_model_file({str(path)!r})"
    )


def test_a_keras_file_claiming_a_huge_layer_is_refused_before_building(model_file, tmp_path):
    """Issue 20, defect 2: Dense(units=3_000_000) in a 7.5 MB file went past 4 GB."""

    def huge_dense(config: str) -> str:
        return re.sub(r'"units": \d+', '"units": 3000000', config, count=1)

    path = keras_file_with_config(tmp_path / "huge.keras", model_file, huge_dense)
    message, peak_mib = peak_memory_of_model_loading(path)
    assert message.startswith("ModelFileError") and str(path) in message, message
    assert "weights" in message and "far more than a digit model needs" in message
    assert peak_mib < 1024, f"peak memory {peak_mib:.0f} MiB"


def test_a_keras_file_with_a_padded_config_is_refused_unread(model_file, tmp_path):
    """Issue 20, defect 2: a config.json padded to 1.5 GB loaded at 3.7 GB."""

    def padded(config: str) -> str:
        return config[:-1] + " " * 50_000_000 + config[-1]

    path = keras_file_with_config(tmp_path / "padded.keras", model_file, padded)
    message, peak_mib = peak_memory_of_model_loading(path)
    assert message.startswith("ModelFileError") and "config.json" in message, message
    assert peak_mib < 1024, f"peak memory {peak_mib:.0f} MiB"
