"""The command line of the MNIST book: ``python -m mnistlib COMMAND``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from mnistlib import __version__
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one subcommand per task."""
    parser = argparse.ArgumentParser(prog="mnistlib", description=__doc__)
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 success, 1 bad data, 2 usage)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (MnistDataError, MnistNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
