"""Prediction speed: mnistlib's Predictor against plain ``model.predict``, same run.

For each of the book's models (trained, or taken from the cache):

* latency of one image: ``Predictor.probabilities`` (a traced ``tf.function``)
  against ``model.predict`` on a batch of one;
* throughput on the 10,000 test images: ``Predictor.probabilities`` on the
  whole array against ``model.predict(batch_size=1000)``;
* the same two for the model exported to ONNX and run by ONNX Runtime
  (``mnistlib.export.OnnxPredictor``), the fast path of ``predict --model-file
  x.onnx``; the export is checked against Keras on the test set first.

Reports medians and the ratios; asserts nothing.

    python bench/predict_speed.py [--models mlp cnn deeper-cnn]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from mnistlib.evaluation import seconds_per_call
from mnistlib.export import OnnxPredictor, ensure_onnx
from mnistlib.prediction import Predictor
from mnistlib.training import BOOK_CONFIGS, load_or_train, prepare_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(BOOK_CONFIGS))
    args = parser.parse_args()
    data = prepare_data()
    one, batch = data.x_test[:1], data.x_test
    print(f"{'model':<11} {'what':<26} {'plain predict':>14} {'Predictor':>10} {'ONNX RT':>10}")
    folder = Path(tempfile.mkdtemp(prefix="onnx-bench-"))
    for name in args.models:
        model = load_or_train(BOOK_CONFIGS[name], verbose=False).model
        check = ensure_onnx(model, folder / f"{name}.onnx", batch)
        assert check.passed, check
        readers = [Predictor(model), OnnxPredictor(folder / f"{name}.onnx")]
        plain_one = seconds_per_call(lambda m=model: m.predict(one, verbose=0), repeats=30)
        plain_all = seconds_per_call(
            lambda m=model: m.predict(batch, batch_size=1000, verbose=0), repeats=5
        )
        fast_one = [seconds_per_call(lambda r=r: r.probabilities(one), 300) for r in readers]
        fast_all = [seconds_per_call(lambda r=r: r.probabilities(batch), 5) for r in readers]
        ones = " ".join(f"{1e3 * t:>10.3f}" for t in fast_one)
        print(f"{name:<11} {'one image (ms)':<26} {1e3 * plain_one:>14.2f} {ones}")
        speedups = " ".join(f"{plain_one / t:>9.0f}x" for t in fast_one)
        print(f"{name:<11} {'  speed-up':<26} {'':>14} {speedups}")
        rates = " ".join(f"{len(batch) / t:>10,.0f}" for t in fast_all)
        plain_rate = len(batch) / plain_all
        print(f"{name:<11} {'10,000 images (images/s)':<26} {plain_rate:>14,.0f} {rates}")
        speedups = " ".join(f"{plain_all / t:>9.2f}x" for t in fast_all)
        print(f"{name:<11} {'  speed-up':<26} {'':>14} {speedups}")


if __name__ == "__main__":
    main()
