"""What a TFLite model contains: its interface, ops, weights and quantization.

Read from the flatbuffer alone (no interpreter), so it is cheap and works for
models the installed runtime cannot load.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edgedq.tflite import flatbuffer


@dataclass
class TensorInfo:
    name: str
    shape: list[int]
    dtype: str
    scale: list[float] | None = None
    zero_point: list[int] | None = None
    quantized_dimension: int | None = None
    constant: bool = False
    bytes: int = 0
    signature_name: str | None = None  # the name the model's author gave it (Keras input/output name)

    @property
    def label(self) -> str:
        """How to call it: the signature name when there is one, else the tensor name."""
        return self.signature_name or self.name

    @property
    def open_dims(self) -> list[int]:
        """Positions of open dimensions other than the batch: they need a shape to run at."""
        return [i for i, d in enumerate(self.shape) if d < 0 and i > 0]


@dataclass
class OpTypeSummary:
    count: int = 0
    hybrid: int = 0  # float activations with int8 weights: quantized on the fly
    weight_dtypes: dict[str, int] = field(default_factory=dict)


@dataclass
class ModelDescription:
    size_bytes: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    ops: dict[str, OpTypeSummary]
    weight_bytes: dict[str, int]
    tensors: list[TensorInfo]

    def as_dict(self, with_tensors: bool = False) -> dict[str, object]:
        data = asdict(self)
        if not with_tensors:
            data.pop("tensors")
        return data


def _tensor_info(model: schema.ModelT, tensor: schema.TensorT) -> TensorInfo:
    quant = tensor.quantization
    scale = None if quant is None or quant.scale is None or len(quant.scale) == 0 else quant.scale
    data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
    size = 0 if data is None else len(data)
    shape = [] if tensor.shape is None else [int(d) for d in tensor.shape]
    signature = tensor.shapeSignature
    if signature is not None and len(signature) == len(shape):
        shape = [int(s) if s >= 0 else -1 for s in signature]
    return TensorInfo(
        name=flatbuffer.tensor_name(tensor),
        shape=shape,
        dtype=flatbuffer.type_name(tensor.type),
        scale=None if scale is None else [float(s) for s in np.asarray(scale).ravel()],
        zero_point=None if scale is None else [int(z) for z in np.asarray(quant.zeroPoint).ravel()],
        quantized_dimension=None if scale is None or len(scale) < 2 else int(quant.quantizedDimension),
        constant=size > 0,
        bytes=size,
    )


def describe_model(data: bytes, source: str = "model") -> ModelDescription:
    model = flatbuffer.read_model(data, source)
    main = model.subgraphs[0]
    infos = [[_tensor_info(model, t) for t in subgraph.tensors or []] for subgraph in model.subgraphs]
    ops: dict[str, OpTypeSummary] = {}
    for ref in flatbuffer.iter_ops(model):
        tensors = infos[ref.subgraph]
        summary = ops.setdefault(ref.op_type, OpTypeSummary())
        summary.count += 1
        operands = [tensors[i] for i in (ref.operator.inputs if ref.operator.inputs is not None else []) if i >= 0]
        weights = [t for t in operands if t.constant]
        for weight in weights:
            summary.weight_dtypes[weight.dtype] = summary.weight_dtypes.get(weight.dtype, 0) + 1
        activations = [t for t in operands if not t.constant]
        if activations and activations[0].dtype == "float32" and any(w.dtype == "int8" for w in weights):
            summary.hybrid += 1
    weight_bytes: Counter[str] = Counter()
    for tensors in infos:
        for tensor in tensors:
            if tensor.constant:
                weight_bytes[tensor.dtype] += tensor.bytes
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == 0:
            for entry in [*(signature.inputs or []), *(signature.outputs or [])]:
                name = entry.name.decode() if isinstance(entry.name, bytes) else str(entry.name)
                infos[0][entry.tensorIndex].signature_name = name
    return ModelDescription(
        size_bytes=len(data),
        inputs=[infos[0][i] for i in main.inputs],
        outputs=[infos[0][i] for i in main.outputs],
        ops=dict(sorted(ops.items())),
        weight_bytes=dict(weight_bytes.most_common()),
        tensors=[t for tensors in infos for t in tensors],
    )
