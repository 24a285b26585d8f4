"""Small real models for the tests, built in code (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def depthwise_cnn(path: Path) -> Path:
    """A MobileNet-like block: conv, depthwise conv, pointwise conv, dense; big enough for int8 weights."""
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(128, 3, strides=2, activation="relu6", name="stem"),
            keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6", name="dw"),
            keras.layers.Conv2D(128, 1, activation="relu6", name="pointwise"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, name="classifier"),
        ]
    )
    model.save(path)
    return path


def dense_net(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(5)])
    model.save(path)  # .h5: the legacy format
    return path


def keyword_spotting_net(folder: Path) -> Path:
    """A DS-CNN-style keyword spotter on 49x10 MFCC frames, exported as a SavedModel."""
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((49, 10, 1)),
            keras.layers.Conv2D(64, (10, 4), strides=(2, 2), padding="same", activation="relu"),
            keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 1, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(12),
        ]
    )
    model.export(str(folder), verbose=False)
    return folder


def unconvertible_saved_model(folder: Path) -> Path:
    """A SavedModel whose ops have no TFLite builtin (MatrixInverse, BesselI1e)."""
    import tensorflow as tf

    class Model(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([4, 4], tf.float32)])
        def __call__(self, x):
            return tf.linalg.inv(x) + tf.math.bessel_i1e(x)

    tf.saved_model.save(Model(), str(folder))
    return folder


def calibration_npz(path: Path, shape: tuple[int, ...], count: int = 16, dtype: str = "float32") -> Path:
    rng = np.random.default_rng(5)
    np.savez(path, x=rng.uniform(-1, 1, size=(count, *shape)).astype(dtype))
    return path


def identity_classifier(path: Path, classes: int = 10) -> Path:
    """Scores = the input itself (Dense with identity weights): its accuracy on any labels is known exactly."""
    import keras

    model = keras.Sequential([keras.Input((classes,)), keras.layers.Dense(classes, use_bias=False)])
    model.layers[0].set_weights([np.eye(classes, dtype=np.float32)])
    model.save(path)
    return path


def flatten_net(path: Path, shape: tuple[int, ...]) -> Path:
    """Output = the input, flattened: shows exactly what the model was fed (the front end's features)."""
    import keras

    keras.Sequential([keras.Input(shape), keras.layers.Flatten()]).save(path)
    return path


def custom_op_model(float_model: Path, target: Path) -> Path:
    """The float model with its FULLY_CONNECTED op turned into a custom op no runtime has: valid, not loadable."""
    from ai_edge_litert import schema_py_generated as schema

    from edgedq.tflite import flatbuffer

    model = flatbuffer.read_model(float_model.read_bytes())
    for code in model.operatorCodes:
        if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.FULLY_CONNECTED:
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
            code.customCode = "EdgedqMissingOp"
    target.write_bytes(flatbuffer.write_model(model))
    return target


def padded_model(model: Path, target: Path, megabytes: float) -> Path:
    """``model`` with a metadata buffer of ``megabytes`` of random bytes: a valid, loadable, big file to upload."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    from edgedq.tflite import flatbuffer

    parsed = flatbuffer.read_model(model.read_bytes())
    padding = schema.BufferT()
    padding.data = np.random.default_rng(0).integers(0, 256, int(megabytes * 1e6), dtype=np.uint8)
    parsed.buffers.append(padding)
    entry = schema.MetadataT()
    entry.name, entry.buffer = "edgedq_test_padding", len(parsed.buffers) - 1
    parsed.metadata = [*(parsed.metadata or []), entry]
    target.write_bytes(flatbuffer.write_model(parsed))
    return target
