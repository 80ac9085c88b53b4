"""The book's models, one small builder each, in Keras 3's functional style.

Every builder takes 28x28x1 images scaled to [0, 1] and returns a model
whose last layer gives ten probabilities (softmax), not yet compiled: the
chapters write ``model.compile`` on the page. With ``augment=True`` the
model starts with :func:`digit_augmentation`, random small rotations, zooms
and shifts that act only while it trains. :func:`build_model` builds a model
by name and compiles it as the chapters do, for the command line and the
cache.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from mnistlib.data import INPUT_SHAPE, NUM_CLASSES

__all__ = [
    "MODEL_BUILDERS",
    "build_cnn",
    "build_deeper_cnn",
    "build_deeper_cnn_bn",
    "build_digit_detector",
    "build_mlp",
    "build_model",
    "build_wide_cnn",
    "compile_for_digits",
    "digit_augmentation",
]


LearningRate = float | keras.optimizers.schedules.LearningRateSchedule


def digit_augmentation(
    degrees: float = 10.0, shift: float = 0.1, zoom: float = 0.1
) -> keras.Sequential:
    """Random rotations (up to ``degrees``), shifts and zooms (fractions of the
    image), drawn anew for every image of every batch while the model trains,
    and switched off when it predicts. Never flips: a flipped 2 is not a 2.
    """
    return keras.Sequential(
        [
            layers.RandomRotation(degrees / 360, fill_mode="constant"),
            layers.RandomZoom(zoom, fill_mode="constant"),
            layers.RandomTranslation(shift, shift, fill_mode="constant"),
        ],
        name="augmentation",
    )


def digit_input(augment: bool = False) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The model's input, and the tensor its first layer reads (augmented or not)."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    return inputs, digit_augmentation()(inputs) if augment else inputs


def compile_for_digits(model: keras.Model, learning_rate: LearningRate) -> keras.Model:
    """Adam (a fixed rate or a schedule), categorical cross-entropy (labels one-hot), accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def build_mlp(augment: bool = False) -> keras.Model:
    """Multilayer perceptron: flatten 784 pixels, one hidden layer of 784, softmax."""
    inputs, x = digit_input(augment)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(784, activation="relu", name="hidden")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_cnn(augment: bool = False) -> keras.Model:
    """Convolutional network: 32 5x5 filters, 2x2 max-pooling, dropout, dense 128, softmax."""
    inputs, x = digit_input(augment)
    x = layers.Conv2D(32, 5, activation="relu", name="conv")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn")


def build_deeper_cnn(augment: bool = False) -> keras.Model:
    """Two convolution blocks (30 5x5, then 15 3x3 filters), dropout, dense 128 and 50."""
    inputs, x = digit_input(augment)
    x = layers.Conv2D(30, 5, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(15, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense1")(x)
    x = layers.Dense(50, activation="relu", name="dense2")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="deeper_cnn")


def conv_bn_block(
    x: keras.KerasTensor,
    filters: int,
    size: int,
    pool: bool,
    name: str,
    padding: str = "valid",
) -> keras.KerasTensor:
    """Convolution, then (optionally) 2x2 max-pooling, batch normalisation and ReLU.

    The convolution needs no bias: batch normalisation subtracts the mean and
    adds its own learned offset. Normalising after the pooling does the same
    job on a quarter of the numbers, which makes training faster on a CPU.
    With ``padding="same"`` the maps keep their size (zeros are added around
    them); with ``"valid"`` they lose ``size - 1`` rows and columns.
    """
    x = layers.Conv2D(filters, size, padding=padding, use_bias=False, name=f"{name}_conv")(x)
    if pool:
        x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_deeper_cnn_bn(augment: bool = False) -> keras.Model:
    """The deeper CNN with batch normalisation after each convolution and dense layer."""
    inputs, x = digit_input(augment)
    x = conv_bn_block(x, 30, 5, pool=True, name="block1")
    x = conv_bn_block(x, 15, 3, pool=True, name="block2")
    x = layers.Dropout(0.2, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    for index, units in enumerate((128, 50), start=1):
        x = layers.Dense(units, use_bias=False, name=f"dense{index}")(x)
        x = layers.BatchNormalization(name=f"dense{index}_bn")(x)
        x = layers.ReLU(name=f"dense{index}_relu")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="deeper_cnn_bn")


#: (filters, kernel size, pooled, padding) of each block of :func:`build_wide_cnn`.
WIDE_BLOCKS = (
    (32, 5, True, "valid"),  # 28x28 -> 24x24, pooled to 12x12
    (64, 3, False, "valid"),  # 12x12 -> 10x10
    (64, 3, True, "valid"),  # 10x10 -> 8x8, pooled to 4x4
    (128, 3, False, "valid"),  # 4x4 -> 2x2
)


def build_wide_cnn(augment: bool = False) -> keras.Model:
    """An all-convolutional network: four wider blocks, no hidden dense layer.

    28x28 -> 24x24 (pooled to 12x12) -> 10x10 -> 8x8 (pooled to 4x4) -> 2x2,
    then dropout and a single softmax layer over the 128 2x2 maps. The first
    block pools at once, so the wider layers work on maps of 12x12 or less:
    full 28x28 maps would cost several times more time per epoch on a CPU.
    """
    inputs, x = digit_input(augment)
    for index, (filters, size, pool, padding) in enumerate(WIDE_BLOCKS, start=1):
        x = conv_bn_block(x, filters, size, pool, name=f"block{index}", padding=padding)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="wide_cnn")


#: The models by the names the command line and the cache use.
MODEL_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "deeper-cnn": build_deeper_cnn,
    "deeper-cnn-bn": build_deeper_cnn_bn,
    "wide-cnn": build_wide_cnn,
}


def build_digit_detector() -> keras.Model:
    """A small CNN that answers one question: is this a digit? (1 yes, 0 no; compiled).

    Two convolution blocks of 16 filters and a dense layer of 32, ending in one
    sigmoid unit: the probability that the picture is a digit.
    """
    model = keras.Sequential(
        [
            keras.Input(INPUT_SHAPE),
            layers.Conv2D(16, 5, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(32, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="digit_detector",
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def build_model(
    name: str, learning_rate: LearningRate = 1e-3, augment: bool = False
) -> keras.Model:
    """Build the model called ``name`` (one of :data:`MODEL_BUILDERS`), compiled."""
    if name not in MODEL_BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_BUILDERS)}")
    return compile_for_digits(MODEL_BUILDERS[name](augment=augment), learning_rate)
