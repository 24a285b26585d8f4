"""Dynamic-range quantization that XNNPACK takes whole.

TensorFlow's ``Optimize.DEFAULT`` also quantizes DEPTHWISE_CONV_2D weights,
and XNNPACK has no kernel for hybrid depthwise convolutions: the graph splits
into many partitions with slow builtin kernels between them, and the
"quantized" MobileNetV2 runs about 2x slower than float32.  Here we rewrite
the float32 flatbuffer instead: only the weights of the ops in the recipe are
stored as per-channel symmetric int8 (XNNPACK runs those with its qd8 kernels,
quantizing activations on the fly), everything else stays float.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edgedq.errors import BadInput
from edgedq.tflite import flatbuffer

# Op versions that TF 2.21's own converter gives these ops once their weights
# are per-channel int8 with float activations (read off its Optimize.DEFAULT
# output); runtimes choose kernels by these numbers.
_HYBRID_OP_VERSIONS = {"CONV_2D": 5, "FULLY_CONNECTED": 12}
_WEIGHT_INPUT = 1  # the filter/weights operand of CONV_2D and FULLY_CONNECTED


@dataclass(frozen=True)
class DynamicRangeRecipe:
    """Which weights to store as int8.  The defaults are what XNNPACK runs fastest."""

    op_types: tuple[str, ...] = ("CONV_2D", "FULLY_CONNECTED")
    min_weight_elements: int = 1024
    keep_float: str | None = None  # regex on op type or weight tensor name

    def __post_init__(self) -> None:
        unknown = set(self.op_types) - set(_HYBRID_OP_VERSIONS)
        if unknown:
            raise BadInput(f"dynamic-range recipe cannot quantize {sorted(unknown)}")
        if self.keep_float:
            try:
                re.compile(self.keep_float)
            except re.error as exc:
                raise BadInput(f"--keep-float is not a valid regular expression: {exc}") from exc

    def as_dict(self) -> dict[str, object]:
        return {
            "op_types": list(self.op_types),
            "min_weight_elements": self.min_weight_elements,
            "keep_float": self.keep_float,
        }


@dataclass
class QuantizedWeight:
    op_type: str
    tensor: str
    elements: int
    max_abs_error: float


@dataclass
class DynamicRangeReport:
    quantized: list[QuantizedWeight] = field(default_factory=list)
    kept_float: dict[str, int] = field(default_factory=dict)  # reason -> count


def quantize_per_channel(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 along axis 0 (output channels), range [-127, 127] as XNNPACK expects."""
    channels = weights.reshape(weights.shape[0], -1).astype(np.float64)
    max_abs = np.abs(channels).max(axis=1)
    scales = np.where(max_abs > 0, max_abs / 127.0, 1.0)
    quantized = np.clip(np.round(channels / scales[:, None]), -127, 127).astype(np.int8)
    return quantized.reshape(weights.shape), scales.astype(np.float32)


def _skip_reason(recipe: DynamicRangeRecipe, op_type: str, name: str, weights: np.ndarray | None) -> str | None:
    if op_type not in recipe.op_types:
        return None  # not a candidate at all
    if weights is None or weights.dtype != np.float32 or weights.ndim < 2:
        return "weights not constant float32"
    if weights.size < recipe.min_weight_elements:
        return f"fewer than {recipe.min_weight_elements} weights"
    if keeps_float(recipe.keep_float, op_type, name):
        return "matched --keep-float"
    return ""


def keeps_float(keep_float: str | None, op_type: str, weight_name: str) -> bool:
    """Whether ``--keep-float`` keeps an op in float: its type or its weight tensor's name matches (both modes)."""
    if not keep_float:
        return False
    return bool(re.search(keep_float, op_type) or re.search(keep_float, weight_name))


def quantize_dynamic_range(float_model: bytes, recipe: DynamicRangeRecipe) -> tuple[bytes, DynamicRangeReport]:
    """Rewrite a float32 TFLite model so the recipe's weights are int8 (hybrid ops)."""
    model = flatbuffer.read_model(float_model)
    report = DynamicRangeReport()
    done: dict[int, int] = {}  # float tensor id -> int8 buffer, for weights shared by several ops
    for ref in flatbuffer.iter_ops(model):
        subgraph = model.subgraphs[ref.subgraph]
        inputs = list(ref.operator.inputs if ref.operator.inputs is not None else [])
        if len(inputs) <= _WEIGHT_INPUT or inputs[_WEIGHT_INPUT] < 0:
            continue
        tensor = subgraph.tensors[inputs[_WEIGHT_INPUT]]
        name = flatbuffer.tensor_name(tensor)
        weights = flatbuffer.buffer_array(model, tensor)
        reason = _skip_reason(recipe, ref.op_type, name, weights)
        if reason is None:
            continue
        if reason:
            report.kept_float[reason] = report.kept_float.get(reason, 0) + 1
            continue
        key = id(tensor)
        if key not in done:
            assert weights is not None
            quantized, scales = quantize_per_channel(weights)
            restored = quantized.astype(np.float32) * scales.reshape((-1,) + (1,) * (weights.ndim - 1))
            model.buffers.append(schema.BufferT())
            model.buffers[-1].data = quantized.reshape(-1).view(np.uint8)
            tensor.buffer = len(model.buffers) - 1
            tensor.type = schema.TensorType.INT8
            tensor.quantization = schema.QuantizationParametersT()
            tensor.quantization.scale = scales
            tensor.quantization.zeroPoint = np.zeros(len(scales), dtype=np.int64)
            tensor.quantization.quantizedDimension = 0
            done[key] = tensor.buffer
            report.quantized.append(
                QuantizedWeight(ref.op_type, name, int(weights.size), float(np.abs(restored - weights).max()))
            )
        _mark_hybrid(model, ref)
    flatbuffer.drop_unused_buffers(model)
    return flatbuffer.write_model(model), report


def _mark_hybrid(model: schema.ModelT, ref: flatbuffer.OpRef) -> None:
    code = model.operatorCodes[ref.operator.opcodeIndex]
    code.version = max(code.version, _HYBRID_OP_VERSIONS[ref.op_type])
    if ref.op_type == "FULLY_CONNECTED" and ref.operator.builtinOptions is not None:
        # Per-input asymmetric scales, as TF's converter chooses: better accuracy in builtin kernels.
        ref.operator.builtinOptions.asymmetricQuantizeInputs = True
