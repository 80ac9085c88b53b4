"""Tests of the ONNX export, its parity check, ONNX Runtime prediction and the export command."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnistlib.cli import main
from mnistlib.export import OnnxPredictor, check_onnx, ensure_onnx, export_onnx
from mnistlib.models import build_model
from mnistlib.prediction import ModelFileError, Predictor


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model("deeper-cnn")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).random((50, 28, 28, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def onnx_file(model, tmp_path_factory):
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "deeper-cnn.onnx")


def test_export_reads_digits_like_keras(model, onnx_file, images):
    check = check_onnx(model, onnx_file, images)
    assert check.passed and check.images == 50 and check.same_digit == 50
    assert check.max_difference <= 1e-5
    onnx = OnnxPredictor(onnx_file).probabilities(images[:3, :, :, 0])  # (n, 28, 28) works too
    np.testing.assert_allclose(onnx, Predictor(model).probabilities(images[:3]), atol=1e-5)


def test_both_readers_apply_the_same_temperature(model, onnx_file, images):
    plain = Predictor(model).probabilities(images)
    for temperature in (0.7, 1.8):
        keras_answers = Predictor(model, temperature).probabilities(images)
        onnx_answers = OnnxPredictor(onnx_file, temperature).probabilities(images)
        np.testing.assert_allclose(onnx_answers, keras_answers, atol=1e-5)
        np.testing.assert_allclose(keras_answers.sum(axis=1), 1.0, atol=1e-5)
        assert (keras_answers.argmax(axis=1) == plain.argmax(axis=1)).all()
        assert not np.allclose(keras_answers, plain)


def test_check_fails_for_another_model(onnx_file, images):
    keras.utils.set_random_seed(1)
    other = build_model("deeper-cnn")
    assert not check_onnx(other, onnx_file, images).passed


def test_export_leaves_no_temporary_file(onnx_file):
    assert sorted(p.name for p in onnx_file.parent.iterdir()) == [onnx_file.name]
    assert onnx_file.stat().st_mode & 0o044 == 0o044  # readable by a web server


def test_ensure_keeps_a_matching_file_and_replaces_a_bad_one(model, onnx_file, images, tmp_path):
    before = onnx_file.read_bytes()
    assert ensure_onnx(model, onnx_file, images).passed
    assert onnx_file.read_bytes() == before  # kept, not exported again
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(before[: len(before) // 2])
    assert ensure_onnx(model, damaged, images).passed
    assert damaged.stat().st_size > len(before) // 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such model file"),
        (b"", "empty"),
        (b"\x08\x07 certainly not onnx", "not a readable ONNX"),
    ],
)
def test_bad_onnx_files_are_refused_with_their_name(tmp_path, content, message):
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message) as error:
        OnnxPredictor(path)
    assert str(path) in str(error.value)


def test_an_onnx_model_of_another_shape_is_refused(tmp_path):
    other = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)]
    )
    path = export_onnx(other, tmp_path / "cifar.onnx")
    with pytest.raises(ModelFileError, match="not a digit model"):
        OnnxPredictor(path)


def test_predict_command_runs_an_onnx_file(model, onnx_file, tmp_path, capsys):
    picture = tmp_path / "one.png"
    page = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(page).line([(100, 30), (100, 170)], fill=0, width=14)
    page.save(picture)
    assert main(["predict", str(picture), "--model-file", str(onnx_file), "--json"]) == 0
    (answer,) = json.loads(capsys.readouterr().out)
    expected = Predictor(model).predict_file(picture)  # the same model in Keras
    assert answer["file"] == str(picture) and answer["digit"] == expected.digit
    np.testing.assert_allclose(answer["probabilities"], expected.probabilities, atol=1e-5)


def test_export_command_on_the_book_model(tmp_path, capsys):
    """End to end on the real data: the book's deeper CNN (cached, or trained once)."""
    from mnistlib.data import find_mnist

    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    output = tmp_path / "exported.onnx"
    assert main(["export", "--model", "deeper-cnn", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert f"to {output}" in out and "same digit for 10,000" in out
    assert OnnxPredictor(output).probabilities(np.zeros((1, 28, 28))).shape == (1, 10)


def test_the_drawing_page_serves_the_books_deeper_cnn():
    """The page's copy of the model passes the chapter's check against the book's deeper CNN.

    Renew the copy with
    ``python -m mnistlib export --model deeper-cnn --output book/_static/demo/deeper-cnn.onnx``.
    """
    from pathlib import Path

    from mnistlib.data import find_mnist
    from mnistlib.training import book_config, load_or_train, prepare_data

    if find_mnist() is None:
        if os.environ.get("CI"):
            pytest.fail("MNIST is needed to check the page's model")
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    page_model = Path(__file__).resolve().parent.parent / "book/_static/demo/deeper-cnn.onnx"
    trained = load_or_train(book_config("deeper-cnn"), verbose=False)
    check = check_onnx(trained.model, page_model, prepare_data().x_test)
    assert check.passed and check.same_digit == 10_000, check


def test_the_drawing_page_serves_the_books_detector(book_detector):
    """The page's not-a-digit detector is the library's: same scores, same threshold.

    Renew its files with ``python -m mnistlib train --model deeper-cnn``, then copy
    ``outputs/models/digit-detector.onnx`` to ``book/_static/demo/`` and the
    threshold of ``digit-detector.json`` to the page's ``digit-detector.json``.
    """
    import json
    from pathlib import Path

    from mnistlib.detector import OnnxDigitCheck
    from mnistlib.images import preprocess_batch
    from mnistlib.training import prepare_data

    library_check, _ = book_detector
    page = Path(__file__).resolve().parent.parent / "book/_static/demo"
    threshold = json.loads((page / "digit-detector.json").read_text())["threshold"]
    assert threshold == library_check.threshold
    pictures = preprocess_batch(prepare_data().x_val)
    page_check = OnnxDigitCheck(page / "digit-detector.onnx", threshold)
    np.testing.assert_allclose(
        page_check.scores(pictures), library_check.scores(pictures), atol=1e-5
    )
    assert page_check.verdicts(pictures) == library_check.verdicts(pictures)


def digit_net(head: list) -> keras.Model:
    """A (28, 28, 1) network ending in ``head``: the wrong ends a stranger's file may have."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), *head])


WRONG_ENDS = {
    "12 outputs": ([keras.layers.Dense(12, activation="softmax")], "expected ten"),
    "1000 outputs": ([keras.layers.Dense(1000, activation="softmax")], "expected ten"),
    "a 28x28 output": ([keras.layers.Reshape((28, 28))], "expected ten"),
    "logits": ([keras.layers.Dense(10)], "not probabilities"),
    "sigmoids": ([keras.layers.Dense(10, activation="sigmoid")], "not probabilities"),
}


@pytest.mark.parametrize("name", list(WRONG_ENDS))
def test_an_onnx_model_that_does_not_give_ten_probabilities_is_refused(tmp_path, name):
    """Issue 20, defect 3: these printed "518 (34.4%)", "0 (5387.7%)" or an IndexError."""
    head, message = WRONG_ENDS[name]
    path = export_onnx(digit_net(head), tmp_path / "stranger.onnx")
    with pytest.raises(ModelFileError, match=message) as error:
        OnnxPredictor(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("name", ["logits", "sigmoids"])
def test_a_keras_model_that_does_not_give_probabilities_is_refused(tmp_path, name):
    from mnistlib.prediction import load_model_file

    head, message = WRONG_ENDS[name]
    path = tmp_path / "stranger.keras"
    digit_net(head).save(path)
    with pytest.raises(ModelFileError, match=message) as error:
        load_model_file(path)
    assert str(path) in str(error.value)


def test_an_onnx_file_named_in_capitals_is_read_as_onnx(model, onnx_file, tmp_path, capsys):
    shouting = tmp_path / "MODEL.ONNX"
    shouting.write_bytes(onnx_file.read_bytes())
    picture = tmp_path / "one.png"
    page = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(page).line([(100, 30), (100, 170)], fill=0, width=14)
    page.save(picture)
    assert main(["predict", str(picture), "--model-file", str(shouting)]) == 0
    assert capsys.readouterr().out.startswith(f"{picture}: ")


def test_models_records_and_exports_get_the_same_permissions(tmp_path, monkeypatch):
    """Issue 20, defect 11: cached models were written 0600 and exports 0644."""
    from mnistlib.cache import cached_fit
    from mnistlib.store import new_file_mode

    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path / "outputs"))
    net = digit_net([keras.layers.Dense(10, activation="softmax")])
    net.compile(optimizer="adam", loss="categorical_crossentropy")
    images = np.zeros((20, 28, 28, 1), dtype=np.float32)
    labels = keras.utils.to_categorical(np.arange(20) % 10, 10)
    stored = cached_fit(net, images, labels, epochs=1, verbose=0).path
    exported = export_onnx(net, tmp_path / "net.onnx")
    modes = {path: path.stat().st_mode & 0o777 for path in (stored, exported)}
    modes[stored.with_suffix(".json")] = stored.with_suffix(".json").stat().st_mode & 0o777
    assert set(modes.values()) == {new_file_mode()}, modes
