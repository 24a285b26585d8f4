"""A float16 TFLite model (fp16 weights behind DEQUANTIZE ops) rewritten as float32.

Pretrained models often ship this way (MediaPipe's BlazeFace does).  edgedq's dynamic-range rewrite starts
from float32 weights, so the DEQUANTIZE of every constant fp16 tensor is done here, once: its output tensor
becomes a float32 constant and the op goes.  XNNPACK folds those DEQUANTIZE ops itself at load time, so the
float32 model runs as the float16 one does; it is only larger.
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edgedq.tflite import flatbuffer


def dequantize_float16(data: bytes, source: str = "model") -> tuple[bytes, int]:
    """(the model with its constant fp16 weights as float32, how many DEQUANTIZE ops were folded)."""
    model = flatbuffer.read_model(data, source)
    folded = 0
    for subgraph in model.subgraphs:
        kept = []
        for operator in subgraph.operators or []:
            name = flatbuffer.opcode_name(model, operator.opcodeIndex)
            inputs = list(operator.inputs if operator.inputs is not None else [])
            weights = None
            if name == "DEQUANTIZE" and len(inputs) == 1 and inputs[0] >= 0:
                weights = flatbuffer.buffer_array(model, subgraph.tensors[inputs[0]])
            if weights is None or weights.dtype != np.float16:
                kept.append(operator)
                continue
            output = subgraph.tensors[operator.outputs[0]]
            model.buffers.append(schema.BufferT())
            model.buffers[-1].data = np.ascontiguousarray(weights.astype(np.float32)).reshape(-1).view(np.uint8)
            output.buffer = len(model.buffers) - 1
            output.type = schema.TensorType.FLOAT32
            folded += 1
        subgraph.operators = kept
        used = {i for op in kept for i in [*(op.inputs if op.inputs is not None else []), *op.outputs]}
        for index, tensor in enumerate(subgraph.tensors or []):
            if index not in used and tensor.type == schema.TensorType.FLOAT16:
                tensor.buffer = 0  # the fp16 copy nothing reads any more: its bytes go
    flatbuffer.drop_unused_buffers(model)
    return flatbuffer.write_model(model), folded
