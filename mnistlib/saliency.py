"""What the network looks at: occlusion maps.

Cover a small square of the picture with paper (zeros), read the picture
again, and see how much the probability of a digit falls. Slide the square
over the whole picture: where covering hurts the answer most, the network's
decision rests. This is *occlusion* (Zeiler and Fergus, 2014). It needs no
gradients and no access to the layers, only the model's answers, so it works
for any reader of :mod:`mnistlib.prediction`; on a 28x28 picture it costs a
few hundred readings, a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnistlib.data import IMAGE_SIDE

__all__ = ["occluded_copies", "occlusion_map"]

#: The side of the covering square and how far it moves each time, in pixels.
PATCH, STRIDE = 4, 2


def occluded_copies(image: np.ndarray, patch: int = PATCH, stride: int = STRIDE) -> np.ndarray:
    """Copies of a 28x28 ``image``, each with one ``patch`` x ``patch`` square set to 0.

    The squares start every ``stride`` pixels, row by row: ``(n, 28, 28)``.
    """
    starts = range(0, IMAGE_SIDE - patch + 1, stride)
    copies = np.repeat(image[np.newaxis], len(starts) ** 2, axis=0)
    for index, (row, column) in enumerate((r, c) for r in starts for c in starts):
        copies[index, row : row + patch, column : column + patch] = 0.0
    return copies


def occlusion_map(
    probabilities: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    digit: int,
    patch: int = PATCH,
    stride: int = STRIDE,
) -> np.ndarray:
    """How much covering each pixel lowers the probability of ``digit``: a 28x28 map.

    ``probabilities`` maps a ``(n, 28, 28)`` batch to ``(n, 10)``, such as a
    reader's :meth:`~mnistlib.prediction.DigitReader.probabilities`. Each
    pixel gets the average fall over the squares that cover it; a negative
    value means covering it made the digit *more* likely.
    """
    image = np.asarray(image, dtype=np.float32).reshape(IMAGE_SIDE, IMAGE_SIDE)
    before = probabilities(image[np.newaxis])[0, digit]
    after = probabilities(occluded_copies(image, patch, stride))[:, digit]
    fall, covered = np.zeros_like(image), np.zeros_like(image)
    starts = range(0, IMAGE_SIDE - patch + 1, stride)
    for index, (row, column) in enumerate((r, c) for r in starts for c in starts):
        fall[row : row + patch, column : column + patch] += before - after[index]
        covered[row : row + patch, column : column + patch] += 1
    return fall / covered
