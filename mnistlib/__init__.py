"""mnistlib: the helper library of the MNIST book.

Modules, each small enough to read in one sitting:

* :mod:`mnistlib.data`: find, read, check and prepare MNIST;
* :mod:`mnistlib.files`: the existence and emptiness check shared by every file reader;
* :mod:`mnistlib.models`: the book's networks and digit augmentation;
* :mod:`mnistlib.cache`: ``cached_fit``, Keras's ``model.fit`` remembered;
* :mod:`mnistlib.store`: where trained models are kept, written atomically and checked;
* :mod:`mnistlib.configs`: the chapters' training runs, by name;
* :mod:`mnistlib.training`: ``load_or_train``, a chapter's training repeated by name;
* :mod:`mnistlib.evaluation`: scores, confusion, mistakes, ensembles, timing;
* :mod:`mnistlib.robustness`: test digits shifted, rotated and noised;
* :mod:`mnistlib.images`: turn a person's picture into an MNIST-like input;
* :mod:`mnistlib.prediction`: read digits fast, load model files safely;
* :mod:`mnistlib.export`: export to ONNX, checked; read digits with ONNX Runtime;
* :mod:`mnistlib.plots`: the book's figures;
* :mod:`mnistlib.display`: show the library's own source on the page;
* :mod:`mnistlib.cli`: the command line, ``python -m mnistlib``.

TensorFlow is imported only by the functions that need it, so that
``import mnistlib`` stays fast.
"""

import os

# TensorFlow's C++ start-up messages (CUDA probing on a machine without a GPU,
# oneDNN notices) mean nothing to a reader; Python errors are not affected.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from mnistlib.data import (
    MnistDataError,
    MnistNotFoundError,
    add_channel_axis,
    find_mnist,
    load_mnist,
    one_hot,
    scale_pixels,
    split_validation,
)

__version__ = "0.1.0"

__all__ = [
    "MnistDataError",
    "MnistNotFoundError",
    "__version__",
    "add_channel_axis",
    "find_mnist",
    "load_mnist",
    "one_hot",
    "scale_pixels",
    "split_validation",
]
