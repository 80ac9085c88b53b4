"""Issue 20, defect 12: ``predict`` reads a book model from its checked ONNX copy, without
TensorFlow, when that copy is current; from Keras otherwise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from mnistlib.cli import main
from mnistlib.export import ParityCheck
from mnistlib.fastcopy import FastCopy, current_fast_copy, fast_copy_path, write_fast_copy
from mnistlib.prediction import Predictor
from tests.test_cli import digit_picture

NAME = "deeper-cnn"
TEMPERATURE = 1.5


@pytest.fixture
def trained(store) -> SimpleNamespace:
    """A small digit model stored as the book's deeper CNN would be (what write_fast_copy reads)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    path = store / "deeper_cnn-0123456789abcdef.keras"
    model.save(path)
    images = np.random.default_rng(0).random((40, 28, 28, 1), dtype=np.float32)
    data = SimpleNamespace(x_test=images)
    return SimpleNamespace(model=model, path=path, data=data, temperature=TEMPERATURE)


def test_a_written_copy_is_current(trained):
    check = write_fast_copy(NAME, trained)
    assert check.passed and check.images == 40
    assert current_fast_copy(NAME) == FastCopy(fast_copy_path(NAME), TEMPERATURE)


def test_a_model_without_a_temperature_reads_at_one(trained):
    trained.temperature = None  # a model refitted on all the training images
    write_fast_copy(NAME, trained)
    assert current_fast_copy(NAME) == FastCopy(fast_copy_path(NAME), 1.0)


def test_predict_reads_the_current_copy_without_tensorflow(trained, tmp_path):
    """Before the fix, predict imported TensorFlow for every photo (5.5 s, 1.2 GB)."""
    write_fast_copy(NAME, trained)
    picture = digit_picture(tmp_path / "one.png")
    script = (
        "import json, sys\n"
        "from mnistlib.cli import main\n"
        f"code = main(['predict', '--json', {str(picture)!r}])\n"
        "print(json.dumps({'code': code, 'tensorflow': 'tensorflow' in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    *answers, status = result.stdout.strip().splitlines()
    assert json.loads(status) == {"code": 0, "tensorflow": False}
    (answer,) = json.loads("\n".join(answers))
    from mnistlib.images import preprocess_file

    calibrated = Predictor(trained.model, TEMPERATURE)
    expected = calibrated.probabilities(preprocess_file(picture).centred[None])[0]
    assert answer["digit"] == int(expected.argmax())
    np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-5)


def edit_record(change):
    def edit(name: str) -> None:
        record_path = fast_copy_path(name).with_suffix(".onnx.json")
        record = json.loads(record_path.read_text())
        record_path.write_text(json.dumps(change(record)))

    return edit


def record_of(name: str) -> Path:
    return fast_copy_path(name).with_suffix(".onnx.json")


def keras_of(name: str) -> Path:
    return next(fast_copy_path(name).parent.glob("*.keras"))


def append_byte(path_of):
    return lambda name: path_of(name).open("ab").write(b"\0")


STALE = {
    "settings changed": edit_record(lambda r: {**r, "settings": {**r["settings"], "epochs": 99}}),
    "other training code": edit_record(
        lambda r: {**r, "trained_by": {**r["trained_by"], "training_code_sha256": "0" * 64}}
    ),
    "other TensorFlow": edit_record(
        lambda r: {**r, "trained_by": {**r["trained_by"], "tensorflow": "2.0.0"}}
    ),
    "temperature absurd": edit_record(lambda r: {**r, "temperature": 1e9}),
    "temperature text": edit_record(lambda r: {**r, "temperature": "warm"}),
    "parity failed": edit_record(lambda r: {**r, "parity": {**r["parity"], "passed": False}}),
    "record null": edit_record(lambda r: None),
    "record a list": edit_record(lambda r: [r]),
    "no keras_file": edit_record(lambda r: {k: v for k, v in r.items() if k != "keras_file"}),
    "record not JSON": lambda name: record_of(name).write_text("{"),
    "record missing": lambda name: record_of(name).unlink(),
    "keras file changed": append_byte(keras_of),
    "keras file gone": lambda name: keras_of(name).unlink(),
    "onnx file changed": append_byte(fast_copy_path),
    "onnx file gone": lambda name: fast_copy_path(name).unlink(),
}  # fmt: skip


@pytest.mark.parametrize("change", STALE.values(), ids=STALE.keys())
def test_a_copy_that_is_not_current_is_not_used(trained, change):
    write_fast_copy(NAME, trained)
    change(NAME)
    assert current_fast_copy(NAME) is None


def test_a_copy_of_another_model_name_is_not_used(trained):
    write_fast_copy(NAME, trained)
    fast_copy_path("cnn").write_bytes(fast_copy_path(NAME).read_bytes())
    fast_copy_path(NAME).with_suffix(".onnx.json").rename(
        fast_copy_path("cnn").with_suffix(".onnx.json")
    )
    assert current_fast_copy("cnn") is None


def test_an_export_that_differs_from_keras_gets_no_record(trained, monkeypatch):
    write_fast_copy(NAME, trained)
    failing = ParityCheck(images=40, same_digit=39, max_difference=0.2)
    monkeypatch.setattr("mnistlib.export.ensure_onnx", lambda *arguments: failing)
    assert not write_fast_copy(NAME, trained).passed
    assert current_fast_copy(NAME) is None
    assert not fast_copy_path(NAME).with_suffix(".onnx.json").exists()


def test_predict_with_a_stale_copy_reads_with_keras(trained, tmp_path, capsys):
    """A stale copy is never used: Keras is asked, and here has no stored model for today's key."""
    from mnistlib.data import find_mnist

    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    write_fast_copy(NAME, trained)
    edit_record(lambda r: {**r, "settings": {**r["settings"], "epochs": 99}})(NAME)
    assert main(["predict", str(digit_picture(tmp_path / "one.png"))]) == 1
    assert "not trained yet" in capsys.readouterr().err


def test_predict_keras_ignores_a_current_copy(trained, tmp_path, capsys):
    from mnistlib.data import find_mnist

    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    write_fast_copy(NAME, trained)
    assert main(["predict", "--keras", str(digit_picture(tmp_path / "one.png"))]) == 1
    assert "not trained yet" in capsys.readouterr().err
