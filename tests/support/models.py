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


# -- models as users bring them (issue: real models): small, built here ---------------------------------------
def flatten_cnn(path: Path) -> Path:
    """Conv + Flatten + Dense, saved with an open batch: TensorFlow computes the Flatten's shape at run time."""
    import keras

    keras.utils.set_random_seed(4)
    keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(32, 3, activation="relu"),
                      keras.layers.Flatten(), keras.layers.Dense(4)]).save(path)  # fmt: skip
    return path


def gru_net(path: Path) -> Path:
    """Conv1D + GRU: a recurrent loop (WHILE) and bias-less FULLY_CONNECTED ops inside it."""
    import keras

    keras.utils.set_random_seed(5)
    keras.Sequential([keras.Input((20, 10)), keras.layers.Conv1D(16, 3), keras.layers.GRU(16),
                      keras.layers.Dense(4)]).save(path)  # fmt: skip
    return path


def lstm_net(path: Path) -> Path:
    """Embedding + LSTM on integer tokens."""
    import keras

    keras.utils.set_random_seed(6)
    keras.Sequential([keras.Input((20,), dtype="int32"), keras.layers.Embedding(50, 8), keras.layers.LSTM(16),
                      keras.layers.Dense(4)]).save(path)  # fmt: skip
    return path


def dynamic_length_net(path: Path) -> Path:
    """Input (None, 40): a sequence of any length, as a keyword spotter on log-mel frames."""
    import keras

    keras.utils.set_random_seed(7)
    keras.Sequential([keras.Input((None, 40)), keras.layers.Conv1D(32, 3, padding="same", activation="relu"),
                      keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(4)]).save(path)  # fmt: skip
    return path


def bias_less_dense(path: Path) -> Path:
    import keras

    keras.utils.set_random_seed(8)
    keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, use_bias=False, activation="relu"),
                      keras.layers.Dense(4, use_bias=False)]).save(path)  # fmt: skip
    return path


def two_input_net(path: Path) -> Path:
    """Inputs ``image`` and ``meta`` of one shape, outputs ``doubled`` = 2 x image and ``tripled`` = 3 x meta:
    an input swapped anywhere shows in the outputs."""
    import keras

    image, meta = keras.Input((16,), name="image"), keras.Input((16,), name="meta")
    doubled = keras.layers.Dense(16, use_bias=False, name="doubled")(image)
    tripled = keras.layers.Dense(16, use_bias=False, name="tripled")(meta)
    model = keras.Model([image, meta], [doubled, tripled])
    model.get_layer("doubled").set_weights([2 * np.eye(16, dtype=np.float32)])
    model.get_layer("tripled").set_weights([3 * np.eye(16, dtype=np.float32)])
    model.save(path)
    return path


CUSTOM_LAYER_MODULE = '''
import keras


@keras.saving.register_keras_serializable(package="edgedq_test")
class Scale(keras.layers.Layer):
    """y = x * a learned scale: a layer Keras does not know by itself."""

    def build(self, shape):
        self.scale = self.add_weight(shape=(shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        return x * self.scale
'''


def custom_layer_net(folder: Path) -> Path:
    """A model with a custom layer, and the module that defines it (``folder/my_layers.py``, class ``Scale``)."""
    import importlib
    import sys

    import keras

    (folder / "my_layers.py").write_text(CUSTOM_LAYER_MODULE)
    sys.path.insert(0, str(folder))
    try:
        layers = importlib.import_module("my_layers")
    finally:
        sys.path.remove(str(folder))
    keras.utils.set_random_seed(9)
    model = keras.Sequential([keras.Input((32,)), layers.Scale(), keras.layers.Dense(4)])
    model.save(folder / "custom.keras")
    return folder / "custom.keras"


def two_depthwise_cnn(path: Path) -> Path:
    """Two depthwise convolutions of 1152 weights: TensorFlow's own hybrid recipe leaves both outside XNNPACK."""
    import keras

    keras.utils.set_random_seed(11)
    keras.Sequential([keras.Input((8, 8, 128)), keras.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
                      keras.layers.Conv2D(128, 1, activation="relu"), keras.layers.DepthwiseConv2D(3, padding="same"),
                      keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)]).save(path)  # fmt: skip
    return path


def sized_cnn(path: Path, width: int) -> Path:
    """A plain CNN whose work grows with ``width`` (two 3x3 convs of ``width`` channels on 32x32)."""
    import keras

    keras.utils.set_random_seed(10)
    keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(width, 3, activation="relu"),
                      keras.layers.Conv2D(width, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
                      keras.layers.Dense(4)]).save(path)  # fmt: skip
    return path
