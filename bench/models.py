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
