"""Issue 21: "not a digit". The verdict, its stored record, the command line, and the
book's real detector on pictures these tests draw."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from PIL import Image

from mnistlib import detector
from mnistlib.cli import main
from mnistlib.detector import (
    DIGIT,
    NOT_A_DIGIT,
    DigitCheck,
    KerasDigitCheck,
    OnnxDigitCheck,
    TrainedDetector,
    detector_record_path,
    stored_digit_check,
    write_detector_record,
)
from tests.test_cli import digit_picture


class FixedScores(DigitCheck):
    """A check whose detector gives each picture its mean pixel as the score."""

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return batch.mean(axis=(1, 2, 3))[:, np.newaxis]


def test_a_score_below_the_threshold_is_not_a_digit_and_at_it_a_digit():
    images = np.stack([np.full((28, 28), level, np.float32) for level in (0.1, 0.5, 0.9)])
    assert FixedScores(0.5).verdicts(images) == [NOT_A_DIGIT, DIGIT, DIGIT]
    assert FixedScores(0.95).verdicts(images) == [NOT_A_DIGIT] * 3
    assert FixedScores(0.5).verdicts(np.zeros((0, 28, 28))) == []


def test_the_check_refuses_what_the_readers_refuse():
    with pytest.raises(ValueError, match="pixels must be in"):
        FixedScores(0.5).verdicts(np.full((1, 28, 28), 255.0))
    with pytest.raises(ValueError, match="shape"):
        FixedScores(0.5).verdicts(np.zeros((1, 32, 32)))


# A small stand-in for the detector: it scores a picture by its mean ink.
def ink_detector() -> keras.Model:
    """Probability of a digit = sigmoid(8 - 40 * mean ink): a picture more than a fifth
    ink (a dot, once the pipeline enlarges it) scores low, a thin stroke high."""
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name="digit_detector",
    )
    model.layers[-1].set_weights([np.array([[-40.0]]), np.array([8.0])])
    return model


@pytest.fixture
def stored(store) -> TrainedDetector:
    model = ink_detector()
    path = store / "digit_detector-0123456789abcdef.keras"
    model.save(path)
    trained = TrainedDetector(model, SimpleNamespace(path=path), threshold=0.5)
    images = np.random.default_rng(0).random((50, 28, 28, 1), dtype=np.float32) * 0.2
    write_detector_record(trained, SimpleNamespace(x_val=images, x_test=images))
    return trained


def test_a_written_record_gives_the_onnx_check_and_the_same_verdicts_as_keras(stored):
    check = stored_digit_check()
    assert isinstance(check, OnnxDigitCheck) and check.threshold == 0.5
    keras_check = stored_digit_check(onnx=False)
    assert isinstance(keras_check, KerasDigitCheck)
    levels = np.linspace(0.0, 0.8, 40, dtype=np.float32)[:, np.newaxis, np.newaxis]
    images = np.random.default_rng(1).random((40, 28, 28), dtype=np.float32) * levels
    assert check.verdicts(images) == keras_check.verdicts(images)
    assert set(check.verdicts(images)) == {DIGIT, NOT_A_DIGIT}  # both happen
    assert np.allclose(check.scores(images), keras_check.scores(images), atol=1e-6)


def test_writing_the_same_detector_again_leaves_its_record_and_a_new_threshold_rewrites_it(
    stored,
):
    images = np.zeros((4, 28, 28, 1), np.float32)
    data = SimpleNamespace(x_val=images, x_test=images)
    path = detector_record_path()
    first = path.stat().st_ino, path.read_text()
    assert write_detector_record(stored, data)  # nothing to do: the same file stays
    assert (path.stat().st_ino, path.read_text()) == first
    write_detector_record(TrainedDetector(stored.model, stored.history, 0.25), data)
    assert json.loads(path.read_text())["threshold"] == 0.25
    assert stored_digit_check().threshold == 0.25


def _edit_record(change) -> None:
    path = detector_record_path()
    record = json.loads(path.read_text())
    path.write_text(json.dumps(change(record)))


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: None,
        lambda r: [r],
        lambda r: {k: v for k, v in r.items() if k != "threshold"},
        lambda r: {**r, "threshold": "high"},
        lambda r: {**r, "threshold": float("nan")},
        lambda r: {**r, "threshold": 1.5},
        lambda r: {**r, "threshold": 0.0},
        lambda r: {**r, "keras_sha256": "0" * 64},
        lambda r: {**r, "keras_file": "elsewhere.keras"},
        lambda r: {**r, "trained_by": {**r["trained_by"], "pillow": "0.1"}},
        lambda r: {**r, "trained_by": {**r["trained_by"], "training_code_sha256": "changed"}},
    ],
    ids=[
        "null record",
        "list record",
        "no threshold",
        "text threshold",
        "NaN threshold",
        "threshold above 1",
        "threshold 0",
        "keras file changed",
        "another keras file",
        "Pillow changed",
        "code changed",
    ],
)
def test_a_damaged_or_stale_record_gives_no_check(stored, damage):
    _edit_record(damage)
    assert stored_digit_check() is None
    assert stored_digit_check(onnx=False) is None


def test_no_record_or_an_unreadable_one_gives_no_check(stored):
    detector_record_path().write_text("{ not json")
    assert stored_digit_check() is None
    detector_record_path().unlink()
    assert stored_digit_check() is None


def test_a_changed_onnx_copy_falls_back_to_keras(stored, store):
    onnx = store / "digit-detector.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    assert isinstance(stored_digit_check(), KerasDigitCheck)
    onnx.unlink()
    assert isinstance(stored_digit_check(), KerasDigitCheck)


def test_a_damaged_keras_file_gives_no_check_even_if_its_record_matches(stored):
    path = stored.history.path
    path.write_bytes(b"not a zip")
    _edit_record(lambda r: {**r, "keras_sha256": detector.file_sha256(path), "onnx_sha256": None})
    assert stored_digit_check() is None


def faint_dot(path: Path) -> Path:
    """A white sheet with one small grey dot: there is ink, but no digit."""
    picture = np.full((200, 200), 255, np.uint8)
    picture[95:105, 95:105] = 0
    Image.fromarray(picture).save(path)
    return path


@pytest.fixture
def book_reader(monkeypatch):
    """predict's book model: a stand-in that always answers 3, read through Keras."""
    import mnistlib.cli
    from mnistlib.prediction import Predictor

    three = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    three.layers[-1].set_weights([np.zeros((784, 10)), np.eye(10)[3] * 5])
    monkeypatch.setattr(mnistlib.cli, "_book_reader", lambda *args: Predictor(three))


def test_predict_prints_not_a_digit_and_its_json_gives_every_record_a_verdict(
    stored, book_reader, tmp_path, capsys
):
    stroke, dot = digit_picture(tmp_path / "stroke.png"), faint_dot(tmp_path / "dot.png")
    assert main(["predict", str(stroke), str(dot)]) == 0  # readable files: exit 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{stroke}: 3 (") and lines[1] == f"{dot}: not a digit"
    assert main(["predict", "--json", str(stroke), str(dot)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["verdict"] for r in records] == [DIGIT, NOT_A_DIGIT]
    assert [r["digit"] for r in records] == [3, 3]  # the existing fields stay
    assert main(["predict", "--json", "--keras", str(stroke), str(dot)]) == 0
    assert [r["verdict"] for r in json.loads(capsys.readouterr().out)] == [DIGIT, NOT_A_DIGIT]


def test_predict_without_a_detector_says_so_and_gives_no_verdict(
    store, book_reader, tmp_path, capsys
):
    stroke = digit_picture(tmp_path / "stroke.png")
    assert main(["predict", "--json", str(stroke)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["verdict"] is None
    assert "no not-a-digit check" in captured.err and "mnistlib train" in captured.err


# The book's real detector, on pictures drawn here.
def drawn_pictures() -> dict[str, list[np.ndarray]]:
    """Non-digits a reader might draw, by kind (grey levels, 1 = paper), drawn here with
    Pillow in sizes and places of their own (not by :mod:`mnistlib.nondigits`)."""
    from PIL import ImageDraw, ImageFont

    rng = np.random.default_rng(21)
    kinds: dict[str, list[Image.Image]] = {"dot": [], "letter": [], "shape": [], "scribble": []}

    def sheet(kind):
        picture = Image.new("L", (200, 200), 255)
        kinds[kind].append(picture)
        return ImageDraw.Draw(picture)

    for radius in (3, 6, 10, 16):
        x, y = rng.integers(40, 160, 2)
        sheet("dot").ellipse([x - radius, y - radius, x + radius, y + radius], fill=0)
    fonts = ("DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneral.ttf", "cmss10.ttf")
    for index, letter in enumerate("AEHKMNRWXYaehkmnrwx"):
        font = ImageFont.truetype(_font(fonts[index % len(fonts)]), int(rng.integers(90, 170)))
        sheet("letter").text((100, 100), letter, fill=0, font=font, anchor="mm")
    for index in range(16):
        pen, width = sheet("shape"), int(rng.integers(5, 11))
        a, b = rng.integers(20, 70, 2), rng.integers(130, 180, 2)
        box = [int(a[0]), int(a[1]), int(b[0]), int(b[1])]
        if index % 4 == 0:
            pen.rectangle(box, outline=0, width=width)
            pen.line([(box[0], box[1]), (box[2], box[3])], fill=0, width=width)
        elif index % 4 == 1:
            pen.polygon([(100, box[1]), (box[2], box[3]), (box[0], box[3])], outline=0, width=width)
        elif index % 4 == 2:
            for step in np.linspace(box[0], box[2], 4):
                pen.line([(int(step), box[1]), (int(step), box[3])], fill=0, width=width)
                pen.line([(box[0], int(step)), (box[2], int(step))], fill=0, width=width)
        else:
            pen.ellipse(box, fill=0)
    for _ in range(10):
        points = [tuple(p) for p in rng.integers(20, 180, (int(rng.integers(12, 20)), 2)).tolist()]
        sheet("scribble").line(points, fill=0, width=int(rng.integers(5, 10)), joint="curve")
    return {
        kind: [np.asarray(p, np.float32) / 255 for p in pictures]
        for kind, pictures in kinds.items()
    }


def _font(name: str) -> str:
    import matplotlib

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name)


def test_the_real_detector_rejects_drawn_non_digits_and_keeps_real_digits(book_detector):
    from mnistlib.images import preprocess, preprocess_batch
    from mnistlib.training import prepare_data

    keras_check, onnx_check = book_detector
    data = prepare_data()
    rejected = {}
    for kind, pictures in drawn_pictures().items():
        inputs = np.stack([preprocess(picture).centred for picture in pictures])
        verdicts = keras_check.verdicts(inputs)
        assert onnx_check.verdicts(inputs) == verdicts
        rejected[kind] = [v == NOT_A_DIGIT for v in verdicts]
    assert all(rejected["dot"]), rejected  # ink, but nothing like a digit
    every = [r for kind in rejected.values() for r in kind]
    assert np.mean(every) >= 0.9, rejected  # the target: 90 % of non-digits rejected
    assert all(np.mean(r) >= 0.75 for r in rejected.values()), rejected  # no kind slips through
    digits = preprocess_batch(data.x_test)  # as predict sees them: through the pipeline
    verdicts = keras_check.verdicts(digits)
    assert np.mean([v == DIGIT for v in verdicts]) >= 0.99  # at most 1 % of real digits rejected
    assert onnx_check.verdicts(digits) == verdicts


def test_predict_train_makes_the_detector_and_keeps_stdout_json(
    store, book_reader, tmp_path, capsys, monkeypatch
):
    """--train trains what is missing (here a stand-in for the detector's training)."""
    from mnistlib.data import find_mnist

    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    made = []

    def train_stand_in(data, verbose=False):
        path = store / "digit_detector-fedcba9876543210.keras"
        ink_detector().save(path)
        made.append(path)
        return TrainedDetector(
            keras.models.load_model(path), SimpleNamespace(path=path, from_cache=False), 0.5
        )

    monkeypatch.setattr(detector, "train_digit_detector", train_stand_in)
    dot = faint_dot(tmp_path / "dot.png")
    assert main(["predict", "--json", "--train", str(dot)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)[0]["verdict"] == NOT_A_DIGIT
    assert "not-a-digit detector trained" in captured.err and len(made) == 1
    assert main(["predict", "--json", str(dot)]) == 0  # stored now: nothing trains again
    assert json.loads(capsys.readouterr().out)[0]["verdict"] == NOT_A_DIGIT and len(made) == 1
