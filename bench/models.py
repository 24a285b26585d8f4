"""Benchmark models, built in code: MobileNetV2 (untrained, BatchNorm statistics from one batch) and DS-CNN."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def mobilenet_v2(path: Path) -> Path:
    """alpha 1.0, 224x224, weights=None; BatchNorm statistics set from one batch so the output is not constant."""
    if path.exists():
        return path
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV2(alpha=1.0, input_shape=(224, 224, 3), weights=None)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0  # one training-mode pass then stores exactly this batch's statistics
    batch = np.random.default_rng(0).uniform(-1, 1, (8, 224, 224, 3)).astype("float32")
    model(batch, training=True)
    model.save(path)
    return path


def ds_cnn(path: Path, classes: int = 12) -> Path:
    """DS-CNN (Hello Edge, 'S' size) keyword spotter on 49x10 MFCC frames."""
    if path.exists():
        return path
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input((49, 10, 1))
    x = layers.Conv2D(64, (10, 4), strides=(2, 2), padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    for _ in range(4):
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.Conv2D(64, 1, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(classes)(x))
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.0
    model(np.random.default_rng(0).normal(size=(16, 49, 10, 1)).astype("float32"), training=True)
    model.save(path)
    return path


def _batch_statistics(model, shape: tuple[int, ...], low: float, high: float):  # type: ignore[no-untyped-def]
    """BatchNorm statistics from one batch in the model's real input range, so outputs are not constant."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(np.random.default_rng(0).uniform(low, high, (8, *shape)).astype("float32"), training=True)
    return model


def mobilenet_v3_small(path: Path) -> Path:
    """keras.applications MobileNetV3Small, weights=None, 224x224; its own preprocessing expects 0-255."""
    if path.exists():
        return path
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(input_shape=(224, 224, 3), weights=None)
    _batch_statistics(model, (224, 224, 3), 0.0, 255.0).save(path)
    return path


def efficientnet_b0(path: Path) -> Path:
    """keras.applications EfficientNetB0, weights=None, 224x224; its own preprocessing expects 0-255."""
    if path.exists():
        return path
    import keras

    keras.utils.set_random_seed(0)
    model = keras.applications.EfficientNetB0(input_shape=(224, 224, 3), weights=None)
    _batch_statistics(model, (224, 224, 3), 0.0, 255.0).save(path)
    return path


def in_range_images(path: Path, count: int = 16) -> Path:
    """Images as these models take them (0-255): fidelity on them, not on Uniform(-1, 1)."""
    if not path.exists():
        np.savez(path, x=np.random.default_rng(1).uniform(0, 255, (count, 224, 224, 3)).astype("float32"))
    return path
