"""The command line of the MNIST book: ``python -m mnistlib COMMAND``.

python -m mnistlib data                      # find and check MNIST
python -m mnistlib train --model cnn         # train (or reuse) a model
python -m mnistlib evaluate --model cnn      # scores and figures
python -m mnistlib predict my-digit.jpg      # read your own digits
python -m mnistlib export --model deeper-cnn # to ONNX, checked on the test set
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from mnistlib import __version__
from mnistlib.configs import TrainConfig, book_config, book_models
from mnistlib.data import MnistDataError, MnistNotFoundError, find_mnist, load_mnist


def _data_command(args: argparse.Namespace) -> int:
    """Say where MNIST is found, load it with every check, and summarise it."""
    source = find_mnist(args.path)
    print(f"source: {source or 'none found locally; trying a Keras download'}")
    (x_train, y_train), (x_test, y_test) = load_mnist(args.path, verify=not args.no_verify)
    print(f"training: {x_train.shape} images, {y_train.shape} labels, {x_train.dtype}")
    print(f"test:     {x_test.shape} images, {y_test.shape} labels, {x_test.dtype}")
    print("per digit (training): " + " ".join(map(str, np.bincount(y_train, minlength=10))))
    print("checksums: " + ("skipped" if args.no_verify else "canonical SHA-256 verified"))
    return 0


def _config(args: argparse.Namespace) -> TrainConfig:
    overrides = {
        key: value
        for key, value in (
            ("epochs", args.epochs),
            ("batch_size", args.batch_size),
            ("learning_rate", args.learning_rate),
            ("seed", args.seed),
        )
        if value is not None
    }
    return replace(book_config(args.model), **overrides)


def _train_command(args: argparse.Namespace) -> int:
    """Train a model with the book's settings (or reuse the cached one)."""
    from mnistlib.training import load_or_train

    config = _config(args)
    if args.workers:
        if args.tensorboard:
            raise SystemExit("error: --tensorboard logs a training in this process, not --workers")
        return _train_with_workers(config, args.workers)
    print(f"{config}" + (f" on {args.devices} devices" if args.devices > 1 else ""))
    trained = load_or_train(config, devices=args.devices, log_dir=args.tensorboard)
    source = "reused from the cache" if trained.from_cache else "trained"
    print(f"{source}: {trained.path}")
    if args.tensorboard and not trained.from_cache:
        print(f"TensorBoard logs in {args.tensorboard}: tensorboard --logdir {args.tensorboard}")
    elif args.tensorboard:
        print("no TensorBoard logs: the model was not trained again")
    print(f"test accuracy {trained.test_accuracy:.2%}, test loss {trained.test_loss:.4f}")
    if trained.temperature is not None:
        print(f"calibration: temperature {trained.temperature:.3f}, fitted on the validation split")
    if config == book_config(args.model) and args.devices == 1:  # what predict reads
        _write_fast_copy(args.model, trained)
        _ensure_detector()
    return 0


def _train_with_workers(config: TrainConfig, workers: int) -> int:
    """Train ``config`` (its validation run) with worker processes; report what they agree on."""
    from mnistlib.distribute import run_workers
    from mnistlib.store import outputs_dir

    config = replace(config, refit=False)
    folder = outputs_dir() / "workers" / config.model
    print(f"{config} with {workers} workers on 127.0.0.1; their logs in {folder}")
    run = run_workers(config, folder, workers)
    chief = run.chief
    same = len({result["weights_sha256"] for result in run.results}) == 1
    print(f"{workers} workers, {chief['replicas']} replicas, started {run.starts} time(s)")
    print(f"seconds per epoch: {', '.join(f'{s:.1f}' for s in chief['epoch_seconds'])}")
    print(f"test accuracy {chief['test_accuracy']:.2%}, test loss {chief['test_loss']:.4f}")
    print(f"the chief's model: {folder / 'model.keras'}")
    print("the workers hold the same weights" if same else "error: the workers' weights differ")
    return 0 if same else 1


def _ensure_detector() -> Any:
    """Train (or reuse) the not-a-digit detector and record it for ``predict``; its check.

    Says what it did on stderr, so that ``predict --train --json`` keeps valid JSON.
    """
    from mnistlib.detector import (
        REJECT_SHARE,
        stored_digit_check,
        train_digit_detector,
        write_detector_record,
    )
    from mnistlib.fastcopy import onnx_available
    from mnistlib.training import prepare_data

    check = stored_digit_check(onnx=onnx_available())
    if check is None:
        print("not-a-digit detector: drawing its non-digits...", file=sys.stderr)
        data = prepare_data()
        trained = train_digit_detector(data)
        how = "reused from the cache" if trained.history.from_cache else "trained"
        print(f"not-a-digit detector {how}: {trained.history.path}", file=sys.stderr)
        write_detector_record(trained, data)
        check = stored_digit_check(onnx=onnx_available())
    print(
        f"not-a-digit detector ready: threshold {check.threshold:.4f}, which "
        f"{REJECT_SHARE:.2%} of the validation digits fall below",
        file=sys.stderr,
    )
    return check


def _write_fast_copy(name: str, trained: Any) -> None:
    """Give ``predict`` a checked ONNX copy of the book model; say so on stderr."""
    from mnistlib.fastcopy import onnx_available, write_fast_copy
    from mnistlib.prediction import ModelFileError

    if not onnx_available():
        print(
            "note: ONNX Runtime is not installed, so predict will import TensorFlow "
            "(pip install 'mnist-book[onnx]' makes it faster)",
            file=sys.stderr,
        )
        return
    try:
        check = write_fast_copy(name, trained)
    except (OSError, ModelFileError) as error:
        print(f"warning: no fast copy for predict ({error}); it will use Keras", file=sys.stderr)
        return
    verdict = "ready" if check.passed else "not used: it differs from Keras"
    print(
        f"fast copy for predict {verdict}: same digit as Keras on {check.same_digit:,} of "
        f"{check.images:,} test images",
        file=sys.stderr,
    )


def _evaluate_command(args: argparse.Namespace) -> int:
    """Scores on the test set, and the confusion-matrix and mistakes figures as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from mnistlib import plots
    from mnistlib.evaluation import confusion, mistakes, per_digit_report
    from mnistlib.training import load_or_train, prepare_data

    trained = load_or_train(_config(args), verbose=False)
    data = prepare_data(trained.config.validation_fraction)
    probabilities = trained.model.predict(data.x_test, batch_size=1000, verbose=0)
    predicted = probabilities.argmax(axis=1)
    accuracy = float(np.mean(predicted == data.y_test))
    print(f"model: {trained.path}")
    print(f"test accuracy {accuracy:.2%} ({int((predicted != data.y_test).sum())} mistakes)")
    print(per_digit_report(data.y_test, predicted).to_string())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plots.use_book_style()
    figure = plots.plot_confusion_matrix(confusion(data.y_test, predicted))
    figure.savefig(out / f"{args.model}-confusion.png", bbox_inches="tight")
    wrong = mistakes(data.y_test, probabilities)[:24]
    figure = plots.plot_mistakes(
        data.x_test[wrong, :, :, 0], data.y_test[wrong], probabilities[wrong]
    )
    figure.savefig(out / f"{args.model}-mistakes.png", bbox_inches="tight")
    print(f"figures: {out / f'{args.model}-confusion.png'}, {out / f'{args.model}-mistakes.png'}")
    return 0


def _book_model_for_prediction(name: str, train: bool) -> Any:
    """The stored book model ``name`` (a ``TrainedModel``); trained first only if ``train``,
    its log on stderr.

    Standard output stays the predictions alone (valid JSON with ``--json``).
    """
    from mnistlib.cache import stored_only
    from mnistlib.store import NotStoredError
    from mnistlib.training import load_or_train

    config = book_config(name)
    try:
        with stored_only():
            return load_or_train(config, verbose=False)
    except NotStoredError as error:
        if not train:
            raise NotStoredError(
                f"{error}. The {name} model is not trained yet: run "
                f"`python -m mnistlib train --model {name}` first (minutes on a laptop CPU), "
                "or add --train to train it now"
            ) from error
    print(f"Training {name} first, as `mnistlib train` would; then reading.", file=sys.stderr)
    with contextlib.redirect_stdout(sys.stderr):
        return load_or_train(config, verbose=True)


def _book_reader(name: str, train: bool, keras_only: bool) -> Any:
    """A reader of the book model ``name``: its fast copy when current, else Keras.

    Reading with Keras writes a new fast copy (unless ``keras_only``), so the
    next run is fast.
    """
    from mnistlib.fastcopy import current_fast_copy, onnx_available
    from mnistlib.prediction import ModelFileError, Predictor

    fast = not keras_only and onnx_available()
    copy = current_fast_copy(name) if fast else None
    if copy is not None:
        from mnistlib.export import OnnxPredictor

        try:
            return OnnxPredictor(copy.path, copy.temperature)
        except ModelFileError:
            pass  # damaged since it was checked: Keras reads, and a new copy is written
    trained = _book_model_for_prediction(name, train)
    if fast:
        with contextlib.redirect_stdout(sys.stderr):
            _write_fast_copy(name, trained)
    return Predictor(trained.model, trained.temperature or 1.0)


def _digit_check(train: bool, keras_only: bool) -> Any:
    """The stored not-a-digit detector's check (trained first only if ``train``), or ``None``
    with a note on stderr."""
    from mnistlib.detector import stored_digit_check
    from mnistlib.fastcopy import onnx_available

    check = stored_digit_check(onnx=not keras_only and onnx_available())
    if check is None and train:
        with contextlib.redirect_stdout(sys.stderr):
            check = _ensure_detector()
    if check is None:
        print(
            "note: no not-a-digit check, the detector is not trained yet (run "
            "`python -m mnistlib train --model deeper-cnn`, or add --train); "
            "every picture is read as a digit",
            file=sys.stderr,
        )
    return check


def _predict_command(args: argparse.Namespace) -> int:
    """Read the digit in each image; report unreadable files and carry on."""
    from mnistlib.prediction import Predictor, load_model_file, predict_files

    if args.model_file and Path(args.model_file).suffix.lower() == ".onnx":
        from mnistlib.export import OnnxPredictor  # ONNX Runtime: no TensorFlow needed

        reader = OnnxPredictor(args.model_file)
    elif args.model_file:
        reader = Predictor(load_model_file(args.model_file))
    else:
        reader = _book_reader(args.model, args.train, args.keras)
    check = _digit_check(args.train, args.keras)
    predictions, failures = predict_files(reader, args.images, check)
    if args.json:
        print(json.dumps([asdict(p) for p in predictions], indent=2))
    else:
        for p in predictions:
            answer = f"{p.digit} ({p.probability:.1%})"
            print(f"{p.file}: {'not a digit' if p.verdict == 'not a digit' else answer}")
    for path, message in failures:
        print(
            f"error: {message}" if path in message else f"error: {path}: {message}", file=sys.stderr
        )
    return 1 if failures else 0


def _export_command(args: argparse.Namespace) -> int:
    """Export a model to ONNX and check it against Keras on the 10,000 test images."""
    from mnistlib.export import TOLERANCE, check_onnx, export_onnx
    from mnistlib.store import model_dir, outputs_dir
    from mnistlib.training import load_or_train, prepare_data

    output = Path(args.output) if args.output else outputs_dir() / f"{args.model}.onnx"
    if output.resolve().parent == model_dir().resolve():
        print(
            f"error: {output}: that is the model store; write the export elsewhere", file=sys.stderr
        )
        return 1
    trained = load_or_train(book_config(args.model), verbose=False)
    path = export_onnx(trained.model, output)
    print(f"exported {trained.path} to {path} ({path.stat().st_size:,} bytes)")
    check = check_onnx(trained.model, path, prepare_data().x_test)
    print(
        f"ONNX Runtime vs Keras on {check.images:,} test images: same digit for "
        f"{check.same_digit:,}, largest probability difference {check.max_difference:.1e} "
        f"(allowed {TOLERANCE:.0e})"
    )
    if not check.passed:
        print(f"error: {path}: the export does not match the Keras model", file=sys.stderr)
        return 1
    return 0


def _add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        choices=book_models(),
        default="deeper-cnn",
        help="which of the book's models (default: deeper-cnn)",
    )


MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are 32-bit


def _whole_number_at_least_one(text: str) -> int:
    """An argparse type: 1, 2, 3, ..."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def _seed(text: str) -> int:
    """An argparse type: a seed NumPy and TensorFlow accept."""
    if not text.strip().isdigit() or int(text) > MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 to {MAX_SEED}, not {text!r}"
        )
    return int(text)


def _positive_number(text: str) -> float:
    """An argparse type: a finite number above 0 (a learning rate)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number above 0, such as 0.001, not {text!r}")
    return value


def _folder(text: str) -> str:
    """An argparse type: a folder to write into (it may not exist yet)."""
    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    return text


def _file(text: str) -> str:
    """An argparse type: a file to write (not an existing folder)."""
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is a folder; name a file such as {text}/model.onnx"
        )
    return text


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    _add_model_option(parser)
    parser.add_argument(
        "--epochs", type=_whole_number_at_least_one, help="epochs (default: the book's)"
    )
    parser.add_argument(
        "--batch-size", type=_whole_number_at_least_one, help="batch size (default: the book's)"
    )
    parser.add_argument("--learning-rate", type=_positive_number, help="Adam's learning rate")
    parser.add_argument("--seed", type=_seed, help="random seed (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one subcommand per task."""
    parser = argparse.ArgumentParser(
        prog="mnistlib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"mnistlib {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser(
        "data",
        help="find, check and summarise the MNIST files",
        description="Find MNIST (PATH, then $MNIST_DATA, then data/mnist, then the Keras "
        "cache, then a download), check every file and print a summary.",
    )
    data.add_argument("path", nargs="?", help="folder of the four IDX files, or mnist.npz")
    data.add_argument(
        "--no-verify", action="store_true", help="do not require the canonical SHA-256 checksums"
    )
    data.set_defaults(run=_data_command)

    train = commands.add_parser(
        "train",
        help="train a model (or reuse the cached one)",
        description="Train one of the book's models with its settings, or reuse the model "
        "cached in outputs/models when the settings and data are unchanged.",
    )
    _add_training_options(train)
    where = train.add_mutually_exclusive_group()
    where.add_argument(
        "--devices",
        type=_whole_number_at_least_one,
        default=1,
        help="train one replica on each of N devices (tf.distribute.MirroredStrategy): the "
        "GPUs when there are N, else N logical CPUs; the batch is split between them",
    )
    where.add_argument(
        "--workers",
        type=_whole_number_at_least_one,
        help="train with N worker processes on this machine (127.0.0.1) under "
        "tf.distribute.MultiWorkerMirroredStrategy, backed up after each epoch; a worker "
        "that dies is restarted once, from the last backup",
    )
    train.add_argument(
        "--tensorboard",
        metavar="DIR",
        type=_folder,
        help="write TensorBoard logs of the training into DIR (then: tensorboard --logdir DIR); "
        "a model reused from the cache writes none",
    )
    train.set_defaults(run=_train_command)

    evaluate = commands.add_parser(
        "evaluate",
        help="test accuracy, per-digit report, confusion and mistakes figures",
        description="Evaluate a model on the 10,000 test images (training it first if it "
        "is not cached) and write the confusion matrix and mistakes as PNG files.",
    )
    _add_training_options(evaluate)
    evaluate.add_argument(
        "--out", type=_folder, default="outputs/figures", help="folder for the figures"
    )
    evaluate.set_defaults(run=_evaluate_command)

    predict = commands.add_parser(
        "predict",
        help="read the digit in image files",
        description="Read one digit per image (PNG, JPEG, ...; any size; dark ink on light "
        "paper or the reverse). Prints one line per image; exits with 1 if any failed. "
        "A book model must be trained first (`mnistlib train`), or add --train. "
        "It is read from its checked ONNX copy, without TensorFlow, when that copy is "
        "current (`mnistlib train` and the first reading write it). A book model's "
        "probabilities are calibrated by the temperature fitted on its validation split. "
        "A small detector network, trained with the book models (`mnistlib train`), first "
        "decides whether a picture is a digit at all: a letter, a shape or a scribble is "
        'reported as "not a digit" (with --json: "verdict": "digit" or "not a digit").',
    )
    predict.add_argument("images", nargs="+", help="image files")
    _add_model_option(predict)
    predict.add_argument(
        "--model-file",
        help="a .keras model file (safe mode on) or an .onnx file (run by ONNX Runtime) instead",
    )
    predict.add_argument("--json", action="store_true", help="print JSON instead of lines")
    predict.add_argument(
        "--train",
        action="store_true",
        help="train the book model and the detector first if they are not stored yet "
        "(the log goes to stderr)",
    )
    predict.add_argument(
        "--keras",
        action="store_true",
        help="read with the Keras model even when its checked ONNX copy is current "
        "(slower: imports TensorFlow)",
    )
    predict.set_defaults(run=_predict_command)

    export = commands.add_parser(
        "export",
        help="export a model to ONNX and check the export",
        description="Export one of the book's models (trained first if it is not cached) to "
        "an ONNX file, then check that ONNX Runtime gives the same digit as Keras for every "
        "test image and every probability within 1e-5. Exits with 1 if it does not.",
    )
    _add_model_option(export)
    export.add_argument("--format", choices=("onnx",), default="onnx", help="file format")
    export.add_argument(
        "--output",
        type=_file,
        help="the file to write (default: MODEL.onnx in the outputs folder, beside the models)",
    )
    export.set_defaults(run=_export_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 success, 1 failure, 2 usage)."""
    from mnistlib.prediction import ModelFileError
    from mnistlib.store import NotStoredError, StoreError, TrainingDivergedError

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (
        MnistDataError,
        MnistNotFoundError,
        ModelFileError,
        NotStoredError,
        StoreError,
        TrainingDivergedError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
