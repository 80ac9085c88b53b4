"""Prediction speed: mnistlib's Predictor against plain ``model.predict``, same run.

For each of the book's models (trained, or taken from the cache):

* latency of one image: ``Predictor.probabilities`` (a traced ``tf.function``)
  against ``model.predict`` on a batch of one;
* throughput on the 10,000 test images: ``Predictor.probabilities`` on the
  whole array against ``model.predict(batch_size=1000)``.

Reports medians and the ratios; asserts nothing.

    python bench/predict_speed.py [--models mlp cnn deeper-cnn]
"""

from __future__ import annotations

import argparse

from mnistlib.evaluation import seconds_per_call
from mnistlib.prediction import Predictor
from mnistlib.training import BOOK_CONFIGS, load_or_train, prepare_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(BOOK_CONFIGS))
    args = parser.parse_args()
    data = prepare_data()
    one, batch = data.x_test[:1], data.x_test
    header = f"{'model':<11} {'what':<26} {'plain predict':>14} {'mnistlib':>10} {'speed-up':>9}"
    print(header)
    for name in args.models:
        model = load_or_train(BOOK_CONFIGS[name], verbose=False).model
        predictor = Predictor(model)
        plain_one = seconds_per_call(lambda m=model: m.predict(one, verbose=0), repeats=30)
        fast_one = seconds_per_call(lambda p=predictor: p.probabilities(one), repeats=300)
        plain_all = seconds_per_call(
            lambda m=model: m.predict(batch, batch_size=1000, verbose=0), repeats=5
        )
        fast_all = seconds_per_call(lambda p=predictor: p.probabilities(batch), repeats=5)
        print(
            f"{name:<11} {'one image (ms)':<26} {1e3 * plain_one:>14.2f} "
            f"{1e3 * fast_one:>10.3f} {plain_one / fast_one:>8.0f}x"
        )
        print(
            f"{name:<11} {'10,000 images (images/s)':<26} {len(batch) / plain_all:>14,.0f} "
            f"{len(batch) / fast_all:>10,.0f} {plain_all / fast_all:>8.2f}x"
        )


if __name__ == "__main__":
    main()
