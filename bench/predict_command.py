"""``python -m mnistlib predict`` on one photo, end to end: the default path against Keras.

Each run is a fresh process, timed with its peak memory by GNU time
(``/usr/bin/time -f "%e %M"``): Python's start, the imports, loading the model
and reading one sample picture. First ``python -m mnistlib train --model
deeper-cnn`` makes sure the model is trained and has its checked ONNX copy.
Then the default (``predict``: that copy, run by ONNX Runtime) takes turns
with the plain Keras path (``predict --keras``: TensorFlow loads the ``.keras``
file). Both must give the same answer. Reports medians and their ratio;
asserts nothing.

    python bench/predict_command.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from mnistlib.images import sample_pictures


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
    subprocess.run(
        [sys.executable, "-m", "mnistlib", "train", "--model", "deeper-cnn"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    predict = [sys.executable, "-m", "mnistlib", "predict", "--model", "deeper-cnn"]
    paths = {
        "default (ONNX copy)": [*predict, photo],
        "Keras (--keras)": [*predict, "--keras", photo],
    }
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
    (fast_s, fast_mib), (keras_s, keras_mib) = medians.values()
    print(f"default / Keras: time {fast_s / keras_s:.2f}, memory {fast_mib / keras_mib:.2f}")
    digits = {answer.split()[0] for found in answers.values() for answer in found}
    print("same digit" if len(digits) == 1 else f"different digits: {digits}")


if __name__ == "__main__":
    main()
