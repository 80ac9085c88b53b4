"""Small files that claim huge sizes: the time and peak memory of the command line on each.

Makes the crafted files of issue 20 (defect 2) in a temporary folder, then
runs ``python -m mnistlib`` on each in a fresh process, timed with its peak
memory by GNU time (``/usr/bin/time -f "%e %M"``), and prints what it said.
``--before DIR`` runs the same commands a second time with the ``mnistlib``
of another checkout (for example a ``git worktree``
of the commit before the fix), so that both are measured in the same run.
Reports; asserts nothing.

    python bench/crafted_files.py [--before ../before]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the tests' makers of crafted files

from conftest import tiny_arrays  # noqa: E402
from test_data import npy_bytes_claiming, npz_with_x_train  # noqa: E402
from test_prediction import keras_file_with_config  # noqa: E402

#: Longest wait for one command: an unbounded one is stopped and reported.
TIMEOUT = 300


def make_cases(folder: Path) -> dict[str, list[str]]:
    """Write the crafted files into ``folder``; the command line's arguments for each."""
    import keras
    from PIL import Image, ImageDraw

    from mnistlib.models import build_model

    photo = folder / "one.png"
    picture = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(picture).line([(60, 20), (60, 140)], fill=0, width=10)
    picture.save(photo)
    keras.utils.set_random_seed(0)
    model_file = folder / "mlp.keras"  # 7.5 MB, as in the issue
    build_model("mlp").save(model_file)

    def huge_dense(config: str) -> str:
        return re.sub(r'"units": \d+', '"units": 3000000', config, count=1)

    def padded(config: str) -> str:  # 1.5 GB of spaces, a few MB once compressed
        return config[:-1] + " " * 1_500_000_000 + config[-1]

    cases = {
        "Dense(3,000,000) in a .keras": keras_file_with_config(
            folder / "huge-dense.keras", model_file, huge_dense
        ),
        "config.json padded to 1.5 GB": keras_file_with_config(
            folder / "padded.keras", model_file, padded
        ),
    }
    arrays = tiny_arrays()
    claims = {
        "npz: complete 1.5 GiB x_train": ((2_000_000, 28, 28), 2_000_000 * 784),
        "npz: 3.9 GB x_train, all there": ((5_000_000, 28, 28), 5_000_000 * 784),
        "npz: header claims 931 GiB": ((1_000_000, 1000, 1000), 64),
    }
    for index, (name, (shape, zeros)) in enumerate(claims.items()):
        path = folder / f"claim-{index}" / "mnist.npz"
        path.parent.mkdir()
        npz_with_x_train(path, arrays, npy_bytes_claiming(shape, payload=b""), zeros=zeros)
        cases[name] = path
    return {
        name: ["predict", "--model-file", str(path), str(photo)]
        if path.suffix == ".keras"
        else ["data", str(path), "--no-verify"]
        for name, path in cases.items()
    }


#: ``python -m mnistlib`` with the package of another checkout.
OTHER_CHECKOUT = """
import runpy, sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
sys.path.insert(0, {folder!r})
runpy.run_module("mnistlib", run_name="__main__", alter_sys=True)
"""


def measure(arguments: list[str], checkout: str | None) -> tuple[str, str, str]:
    """(seconds, peak MiB, last line of output) of ``python -m mnistlib ARGUMENTS``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    python = [sys.executable, "-m", "mnistlib"]
    if checkout:  # an editable install's finder would win over PYTHONPATH
        python = [sys.executable, "-c", OTHER_CHECKOUT.format(folder=checkout)]
    command = ["/usr/bin/time", "-f", "%e %M", *python, *arguments]
    try:
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return f">{TIMEOUT}", "?", "stopped: no answer in time"
    *said, timing = result.stderr.strip().splitlines()
    seconds, kib = timing.split()[-2:]
    return seconds, f"{int(kib) / 1024:.0f}", _answer(result.stdout, said)[:120]


def _answer(stdout: str, stderr_lines: list[str]) -> str:
    """The error the command gave (its message, or a traceback's last line), else its output."""
    errors = [
        line.strip()
        for line in stderr_lines
        if line.startswith("error:") or re.match(r"[\w.]+(Error|Exception)\b", line)
    ]
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return errors[-1] if errors else (lines[-1] if lines else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a checkout whose mnistlib to measure as well")
    args = parser.parse_args()
    runs = {"now": None}
    if args.before:
        runs = {"before": str(Path(args.before).resolve()), **runs}
    with tempfile.TemporaryDirectory() as folder:
        cases = make_cases(Path(folder))
        for name, arguments in cases.items():
            print(f"\n{name}: mnistlib {' '.join(arguments[:1])} ...")
            for run, checkout in runs.items():
                seconds, mib, said = measure(arguments, checkout)
                print(f"  {run:6} {seconds:>6} s {mib:>6} MiB  {said}")


if __name__ == "__main__":
    main()
