"""``python -m mnistlib predict`` on one photo, end to end: the Keras path against ONNX.

Each run is a fresh process, timed with its peak memory by GNU time
(``/usr/bin/time -f "%e %M"``): Python's start, the imports, loading the model
and reading one sample picture. The Keras path is the default (``--model
deeper-cnn``, TensorFlow); the ONNX path is ``--model-file`` with the export
that ``python -m mnistlib export`` writes (made first if missing). Both must
give the same answer. Reports medians and their ratio; asserts nothing.

    python bench/predict_command.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from mnistlib.images import sample_pictures
from mnistlib.store import outputs_dir


def timed(command: list[str]) -> tuple[float, float, str]:
    """Seconds, peak MiB and standard output of ``command`` in a fresh process."""
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *command], capture_output=True, text=True, check=True
    )
    seconds, kib = result.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kib) / 1024, result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    photo = str(sorted((sample_pictures() / "handwriting").iterdir())[0])
    onnx_file = outputs_dir() / "deeper-cnn.onnx"
    if not onnx_file.is_file():
        subprocess.run([sys.executable, "-m", "mnistlib", "export"], check=True)
    paths = {
        "Keras (default)": [sys.executable, "-m", "mnistlib", "predict", photo],
        "ONNX (--model-file)": [
            sys.executable, "-m", "mnistlib", "predict", "--model-file", str(onnx_file), photo,
        ],
    }  # fmt: skip
    results: dict[str, list[tuple[float, float, str]]] = {name: [] for name in paths}
    for _ in range(args.rounds):  # alternate, so that a noisy minute hits both
        for name, command in paths.items():
            results[name].append(timed(command))
    answers = {name: {run[2].split(": ", 1)[1] for run in runs} for name, runs in results.items()}
    print(f"one photo, {args.rounds} rounds each: {photo.rsplit('/', 1)[-1]}")
    medians = {}
    for name, runs in results.items():
        medians[name] = (
            statistics.median(run[0] for run in runs),
            statistics.median(run[1] for run in runs),
        )
        print(f"{name:20} {medians[name][0]:5.2f} s {medians[name][1]:7.0f} MiB  {answers[name]}")
    (keras_s, keras_mib), (onnx_s, onnx_mib) = medians.values()
    print(f"ONNX / Keras: time {onnx_s / keras_s:.2f}, memory {onnx_mib / keras_mib:.2f}")
    digits = {answer.split()[0] for found in answers.values() for answer in found}
    print("same digit" if len(digits) == 1 else f"different digits: {digits}")


if __name__ == "__main__":
    main()
