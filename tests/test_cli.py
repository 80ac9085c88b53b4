"""Tests of the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import IDX_STEMS

from mnistlib.cli import main


def test_data_command_summarises_a_folder(idx_folder, capsys):
    assert main(["data", str(idx_folder), "--no-verify"]) == 0
    out = capsys.readouterr().out
    assert "(30, 28, 28)" in out and "(20, 28, 28)" in out
    assert "per digit (training): 3 3 3 3 3 3 3 3 3 3" in out


def test_data_command_reports_bad_file(idx_folder, capsys):
    path = idx_folder / f"{IDX_STEMS['train_labels']}.gz"
    path.write_bytes(b"")
    assert main(["data", str(idx_folder), "--no-verify"]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "empty" in err


def test_module_runs_with_help():
    result = subprocess.run(
        [sys.executable, "-m", "mnistlib", "data", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "MNIST_DATA" in result.stdout


def test_every_subcommand_has_help():
    for command in ("train", "evaluate", "predict"):
        result = subprocess.run(
            [sys.executable, "-m", "mnistlib", command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "--model" in result.stdout


def test_train_then_evaluate_on_real_mnist(tmp_path, monkeypatch, capsys):
    """End to end on the real data: one epoch of the MLP, then its evaluation from the cache."""
    from mnistlib.data import find_mnist

    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path / "outputs"))
    assert main(["train", "--model", "mlp", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "epochs=1" in out and "trained:" in out and "test accuracy" in out
    assert main(["train", "--model", "mlp", "--epochs", "1"]) == 0
    assert "reused from the cache" in capsys.readouterr().out
    figures = tmp_path / "figures"
    assert main(["evaluate", "--model", "mlp", "--epochs", "1", "--out", str(figures)]) == 0
    out = capsys.readouterr().out
    assert "precision" in out and "macro avg" in out
    assert (figures / "mlp-confusion.png").stat().st_size > 10_000
    assert (figures / "mlp-mistakes.png").stat().st_size > 10_000


def test_the_command_line_offers_every_book_model():
    from mnistlib.cli import build_parser
    from mnistlib.configs import book_models

    train = build_parser()._subparsers._group_actions[0].choices["train"]
    model_option = next(a for a in train._actions if a.dest == "model")
    assert tuple(model_option.choices) == book_models()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train", "--epochs", "0"], "--epochs: must be a whole number of at least 1, not '0'"),
        (["train", "--epochs", "-3"], "--epochs: must be a whole number of at least 1"),
        (["train", "--epochs", "two"], "--epochs: must be a whole number of at least 1"),
        (["evaluate", "--batch-size", "-5"], "--batch-size: must be a whole number of at least 1"),
        (["train", "--seed", "-1"], "--seed: must be a whole number from 0 to 4294967295"),
        (["train", "--seed", "4294967296"], "--seed: must be a whole number from 0 to"),
        (["train", "--learning-rate", "nan"], "--learning-rate: must be a number above 0"),
        (["train", "--learning-rate", "inf"], "--learning-rate: must be a number above 0"),
        (["train", "--learning-rate", "0"], "--learning-rate: must be a number above 0"),
        (["train", "--learning-rate=-1e-3"], "--learning-rate: must be a number above 0"),
    ],
)
def test_training_options_are_checked_before_anything_runs(arguments, message, capsys):
    """Issue 20, defect 9: each of these gave a traceback or trained a useless model."""
    with pytest.raises(SystemExit) as exit_:
        main(arguments)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_evaluate_refuses_a_file_as_its_figures_folder(tmp_path, capsys):
    existing = tmp_path / "report.txt"
    existing.write_text("keep me")
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--out", str(existing)])
    assert exit_.value.code == 2
    assert f"--out: {existing} is a file, not a folder" in capsys.readouterr().err
    assert existing.read_text() == "keep me"


def test_export_refuses_a_folder_as_its_output(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--output", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"--output: {tmp_path} is a folder; name a file such as" in capsys.readouterr().err


def test_export_refuses_to_write_into_the_model_store(tmp_path, monkeypatch, capsys):
    """Issue 20, defect 8: --output onto the cached model overwrote it and exited 0."""
    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path))
    store = tmp_path / "models"
    store.mkdir()
    cached = store / "deeper_cnn-0123456789abcdef.keras"
    cached.write_bytes(b"trained weights")
    assert main(["export", "--output", str(cached)]) == 1
    err = capsys.readouterr().err
    assert str(cached) in err and "model store" in err
    assert cached.read_bytes() == b"trained weights"


def digit_picture(path):
    """A white sheet with a dark vertical stroke: a 1, as a reader's photo might show it."""
    from PIL import Image, ImageDraw

    picture = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(picture).line([(60, 20), (60, 140)], fill=0, width=10)
    picture.save(path)
    return path


def test_predict_without_a_trained_model_says_how_to_train_and_trains_nothing(
    tmp_path, monkeypatch, capsys
):
    """Issue 20, defect 5: predict trained the default network for minutes, silently."""
    from mnistlib.data import find_mnist

    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path / "outputs"))
    picture = digit_picture(tmp_path / "one.png")
    assert main(["predict", "--model", "mlp", str(picture)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "not trained yet" in captured.err
    assert "python -m mnistlib train --model mlp" in captured.err and "--train" in captured.err
    assert not list((tmp_path / "outputs").glob("models/*.keras"))


def test_predict_train_keeps_standard_output_for_the_predictions(tmp_path, monkeypatch, capsys):
    """With --train, the training's log and notices go to stderr; --json stays valid JSON."""
    import json

    import keras

    from mnistlib.store import NotStoredError

    class Trained:
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(10, activation="softmax")])  # fmt: skip
        temperature = None

    def load_or_train(config, verbose):
        from mnistlib.cache import _TRAINING_ALLOWED

        if not _TRAINING_ALLOWED.get():
            raise NotStoredError("no stored model")
        print("Stored model not used, training again: damaged")  # as a careless library might
        print("Epoch 1/1 - loss: 0.3")
        return Trained()

    def ensure_detector():
        print("detector: Epoch 1/1 - loss: 0.2")  # its training log, also on stdout
        return None

    monkeypatch.setattr("mnistlib.training.load_or_train", load_or_train)
    monkeypatch.setattr("mnistlib.cli._ensure_detector", ensure_detector)
    monkeypatch.setenv("MNIST_OUTPUTS", str(tmp_path / "outputs"))
    picture = digit_picture(tmp_path / "one.png")
    arguments = ["predict", "--model", "mlp", "--train", "--keras", "--json", str(picture)]
    assert main(arguments) == 0
    captured = capsys.readouterr()
    (answer,) = json.loads(captured.out)
    assert answer["file"] == str(picture)
    assert "Training mlp first" in captured.err and "Epoch 1/1" in captured.err
    assert "detector: Epoch 1/1" in captured.err


def test_train_into_an_outputs_path_that_is_a_file_fails_at_once_with_a_message(
    tmp_path, monkeypatch, capsys
):
    """Issue 20, defect 6: train trained to the end, then died with a traceback."""
    from mnistlib.data import find_mnist

    if find_mnist() is None:
        pytest.skip("no MNIST on this machine; set MNIST_DATA")
    a_file = tmp_path / "outputs"
    a_file.write_text("not a folder")
    monkeypatch.setenv("MNIST_OUTPUTS", str(a_file))
    assert main(["train", "--model", "mlp", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "cannot write the trained model there" in err and "MNIST_OUTPUTS" in err
    assert a_file.read_text() == "not a folder"
