"""The book's models, one small builder each, in Keras 3's functional style.

Every builder takes 28x28x1 images scaled to [0, 1] and returns a compiled
model whose last layer gives ten probabilities (softmax), trained with the
Adam optimiser on the categorical cross-entropy of one-hot labels.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

__all__ = ["MODEL_BUILDERS", "build_cnn", "build_deeper_cnn", "build_mlp", "build_model"]

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def compile_for_digits(model: keras.Model, learning_rate: float) -> keras.Model:
    """Adam, categorical cross-entropy (labels one-hot) and accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def build_mlp(learning_rate: float = 1e-3) -> keras.Model:
    """Multilayer perceptron: flatten 784 pixels, one hidden layer of 784, softmax."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Flatten(name="flatten")(inputs)
    x = layers.Dense(784, activation="relu", name="hidden")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return compile_for_digits(keras.Model(inputs, outputs, name="mlp"), learning_rate)


def build_cnn(learning_rate: float = 1e-3) -> keras.Model:
    """Convolutional network: 32 5x5 filters, 2x2 max-pooling, dropout, dense 128, softmax."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Conv2D(32, 5, activation="relu", name="conv")(inputs)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return compile_for_digits(keras.Model(inputs, outputs, name="cnn"), learning_rate)


def build_deeper_cnn(learning_rate: float = 1e-3) -> keras.Model:
    """Two convolution blocks (30 5x5, then 15 3x3 filters), dropout, dense 128 and 50."""
    inputs = keras.Input(shape=INPUT_SHAPE, name="image")
    x = layers.Conv2D(30, 5, activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(15, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense1")(x)
    x = layers.Dense(50, activation="relu", name="dense2")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities")(x)
    return compile_for_digits(keras.Model(inputs, outputs, name="deeper_cnn"), learning_rate)


#: The models by the names the command line and the cache use.
MODEL_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "mlp": build_mlp,
    "cnn": build_cnn,
    "deeper-cnn": build_deeper_cnn,
}


def build_model(name: str, learning_rate: float = 1e-3) -> keras.Model:
    """Build the model called ``name`` (one of :data:`MODEL_BUILDERS`)."""
    if name not in MODEL_BUILDERS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_BUILDERS)}")
    return MODEL_BUILDERS[name](learning_rate=learning_rate)
