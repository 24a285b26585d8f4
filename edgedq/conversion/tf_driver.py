"""Driving TensorFlow's TFLite converter: load a source at a fixed batch, configure each mode, convert.

This runs inside the conversion worker (a child process: a crash in TensorFlow's
calibrator must not take edgedq down), and in-process for ``make bench``.

A fixed batch (1 by default) is what makes stock Keras models whole for XNNPACK:
with an open batch TensorFlow leaves SHAPE/STRIDED_SLICE/PACK/RESHAPE ops in the
graph to compute it at run time, and recurrent layers cannot be lowered at all.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from edgedq_agent import inputs as agent_inputs

from edgedq.conversion.sources import ModelSource, SourceKind
from edgedq.errors import BadInput, ConversionFailed

MAX_CALIBRATION_SAMPLES = 500


@dataclass
class Prepared:
    """A converter for one source, and the output names its author gave (signature output i -> name)."""

    converter: Any
    output_names: list[str] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)  # signature name, shape, dtype of each input


def import_custom_objects(specs: Sequence[str]) -> dict[str, Any]:
    """``module:attr`` each, importable from the current folder; registered under every name Keras may use."""
    import keras

    found: dict[str, Any] = {}
    if "" not in sys.path:
        sys.path.insert(0, "")
    for spec in specs:
        module, _, attribute = spec.partition(":")
        if not module or not attribute:
            raise BadInput(f"--custom-objects {spec!r}: write MODULE:NAME, e.g. mylayers:Attention")
        try:
            obj = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise BadInput(f"--custom-objects {spec}: cannot import it ({exc})", hint="run from the folder that holds "
                           "the module, or put it on PYTHONPATH") from None  # fmt: skip
        found[attribute] = found[getattr(obj, "__name__", attribute)] = obj
        found[keras.saving.get_registered_name(obj)] = obj
    return found


def _keras_load_error(source: ModelSource, exc: BaseException) -> BadInput:
    text = _first_line(exc)
    if "Only input tensors may be passed as positional arguments" in text:
        return BadInput(
            f"{source.path}: Keras 3 cannot rebuild this legacy .h5 ({text})",
            hint="an op with a constant argument (as in MobileNetV3's hard-swish) cannot be replayed from .h5: "
            "save the model as .keras (model.save('m.keras')) or export a SavedModel (model.export('dir'))",
        )
    unknown = re.search(r"(?:Unknown|Could not locate) (?:layer|class|object)[^:]*: '?([\w.>]+)", text)
    return BadInput(
        f"{source.path}: the Keras model cannot be loaded ({text})",
        hint=f"a custom {'object ' + unknown.group(1) if unknown else 'layer'}? pass --custom-objects MODULE:NAME "
        "(importable from here), or export the model as a SavedModel: model.export('dir')",
    )


def _fixed_keras(model: Any, batch: int | None) -> Any:
    """The model with inputs of a fixed batch (``None`` keeps it open), its weights shared."""
    import keras

    if batch is None:
        return model
    inputs = [keras.Input(batch_shape=(t.shape[0] or batch, *t.shape[1:]), dtype=t.dtype, name=t.name)
              for t in model.inputs]  # fmt: skip
    return keras.Model(inputs, model(inputs if len(inputs) > 1 else inputs[0]))


def _fixed_signature(loaded: Any, batch: int | None) -> tuple[Any, list[str]]:
    """A SavedModel's serving signature as a concrete function at a fixed batch, and its output names."""
    import tensorflow as tf

    signature = loaded.signatures.get("serving_default") or next(iter(loaded.signatures.values()), None)
    if signature is None:
        raise BadInput("the SavedModel has no signature to convert", hint="export it with model.export(dir)")
    _, specs = signature.structured_input_signature
    names = sorted(specs)
    fixed = [tf.TensorSpec([_batch(specs[n].shape, batch), *specs[n].shape[1:]], specs[n].dtype, name=n) for n in names]

    @tf.function(input_signature=fixed)
    def serve(*tensors: Any) -> Any:
        return signature(**dict(zip(names, tensors, strict=True)))

    return serve.get_concrete_function(), list(signature.structured_outputs)


def _batch(shape: Any, batch: int | None) -> int | None:
    """The first dimension to trace with: ``batch`` where it is open, as it was where it is fixed already."""
    first = shape[0] if shape.rank else None
    return first if first is not None else batch


def prepare(source: ModelSource, batch: int | None = 1, custom_objects: Sequence[str] = ()) -> Prepared:
    """A converter for ``source`` at ``batch`` (imports TensorFlow)."""
    import tensorflow as tf

    if source.kind is SourceKind.SAVED_MODEL:
        try:
            loaded = tf.saved_model.load(str(source.path))
            function, outputs = _fixed_signature(loaded, batch)
        except BadInput:
            raise
        except Exception as exc:
            raise BadInput(f"{source.path}: the SavedModel cannot be loaded ({_first_line(exc)})") from exc
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function], loaded)
        specs = function.structured_input_signature[0]
        inputs = [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype.name} for s in specs]
        return Prepared(converter, outputs, inputs)
    import keras

    objects = import_custom_objects(custom_objects)
    try:
        model = keras.models.load_model(source.path, compile=False, custom_objects=objects or None)
    except Exception as exc:
        raise _keras_load_error(source, exc) from exc
    fixed = _fixed_keras(model, batch)
    inputs = [{"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in fixed.inputs]
    names = list(getattr(model, "output_names", None) or [])  # a Sequential model names none
    return Prepared(tf.lite.TFLiteConverter.from_keras_model(fixed), names, inputs)


def calibration_samples(prepared: Prepared, arrays: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Representative samples keyed by the model's input names (never by order: TFLite may reorder inputs)."""
    details = [
        {"name": d["name"], "shape": [], "shape_signature": [-1 if s is None else s for s in d["shape"]],
         "dtype": np.dtype(d["dtype"])}
        for d in prepared.inputs
    ]  # fmt: skip
    try:
        matched = agent_inputs.fit_arrays(details, arrays)
    except ValueError as exc:
        raise BadInput(f"calibration data does not fit the model: {exc}") from None
    count = min(MAX_CALIBRATION_SAMPLES, *(len(array) for array in matched.values()))
    return [{d["name"]: matched[d["name"]][i : i + 1].astype(d["dtype"]) for d in details} for i in range(count)]


def run_converter(
    converter: Any,
    mode: str,
    calibration: list[dict[str, np.ndarray]] | list[list[np.ndarray]] | None = None,
    keep_float: str | None = None,
) -> bytes:
    """Configure one converter for ``mode`` and convert; unsupported ops are named in the error.

    For int8, ``keep_float`` (a ``--keep-float`` regex on op type or weight tensor name) keeps the ops it matches
    in float, with QUANTIZE/DEQUANTIZE around them: QuantizationDebugger's selective quantization.
    """
    import tensorflow as tf

    converter.optimizations = []
    converter.target_spec.supported_types = []
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.representative_dataset = None
    converter._experimental_calibrate_only = False
    if mode == "int8" and keep_float:
        assert calibration is not None
        return _selective_int8(converter, calibration, keep_float)
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        assert calibration is not None
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.representative_dataset = lambda: _dataset(calibration)
    elif mode == "tf-default":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        return bytes(converter.convert())
    except Exception as exc:
        raise conversion_error(exc, mode) from exc


def _dataset(examples: list[Any]) -> Iterator[Any]:
    yield from examples


def _selective_int8(converter: Any, calibration: list[Any], keep_float: str) -> bytes:
    """Calibrate, then quantize every op but those ``keep_float`` matches (denylisted by output tensor name)."""
    import tensorflow as tf
    from tensorflow.lite.python import convert as tf_convert

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.representative_dataset = lambda: _dataset(calibration)
    converter._experimental_calibrate_only = True
    try:
        calibrated = bytes(converter.convert())
        nodes = kept_nodes(calibrated, keep_float)
        return bytes(tf_convert.mlir_quantize(calibrated, disable_per_channel=False, fully_quantize=False,
                                              denylisted_nodes=nodes or None))  # fmt: skip
    except Exception as exc:
        raise conversion_error(exc, "int8") from exc
    finally:
        converter._experimental_calibrate_only = False


def kept_nodes(model: bytes, keep_float: str, float_only: bool = False) -> list[str]:
    """Output tensor names of the ops whose type or weight tensor name ``keep_float`` matches (``float_only``:
    of those, the ones whose output is float: what a quantized model really kept)."""
    from ai_edge_litert import schema_py_generated as schema

    from edgedq.conversion.dynamic_range import keeps_float
    from edgedq.tflite import flatbuffer

    parsed = flatbuffer.read_model(model)
    found = []
    for ref in flatbuffer.iter_ops(parsed):
        tensors = parsed.subgraphs[ref.subgraph].tensors
        inputs = list(ref.operator.inputs if ref.operator.inputs is not None else [])
        weight = flatbuffer.tensor_name(tensors[inputs[1]]) if len(inputs) > 1 and inputs[1] >= 0 else ""
        if not keeps_float(keep_float, ref.op_type, weight):
            continue
        outputs = [tensors[i] for i in ref.operator.outputs]
        if not float_only or all(t.type == schema.TensorType.FLOAT32 for t in outputs):
            found += [flatbuffer.tensor_name(t) for t in outputs]
    return found


def conversion_error(exc: BaseException, mode: str) -> ConversionFailed:
    text = str(exc)
    ops = sorted(set(re.findall(r"\btf\.([A-Z][A-Za-z0-9_]*)", text)))
    if "TensorListReserve" in ops or "TensorList" in text:
        return ConversionFailed(
            f"TensorFlow cannot lower this recurrent layer to TFLite builtins ({mode}): its batch is open",
            hint="convert with a fixed batch (the default --batch 1), not --batch none",
        )
    if ops:
        return ConversionFailed(
            f"TensorFlow cannot convert these ops to TFLite builtins ({mode}): {', '.join(ops)}",
            hint="replace them in the model, or keep them out of the exported function",
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in lines if "error" in line.lower()), lines[0] if lines else type(exc).__name__)
    return ConversionFailed(f"TensorFlow could not convert the model ({mode}): {detail[:300]}", hint="run with -v")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
