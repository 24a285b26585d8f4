"""Which layers dynamic-range quantization hurts, measured on the host before anything goes to a board.

In the spirit of TensorFlow's QuantizationDebugger layer metrics: the float32 model runs over a sample of the
user's data with every intermediate tensor kept (the interpreter's ``experimental_preserve_all_tensors``), and
each quantized op of the dynamic model runs alone (a one-op model cut out of it, on XNNPACK's qd8 kernels as on a
board) on the float model's own input to that op.  Each layer's error is then its own, not the sum of the errors
of the layers before it, and the layers are ranked by the signal-to-noise ratio of their output (lowest first).

The dynamic model is a rewrite of the float32 flatbuffer (``conversion.dynamic_range``): the two share every
tensor index, so a tensor of one is the same tensor of the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from edgedq_agent import frontend
from edgedq_agent import inputs as agent_inputs
from edgedq_agent.runtime import AgentFailure, Runtime, allocate, find_runtime, load_interpreter

from edgedq.errors import BadInput
from edgedq.quiet import capture_native_output
from edgedq.tflite import flatbuffer

SAMPLES = 32  # inputs the layers are measured on, spread over the data
METRIC = "snr_db"
SNR_CAP_DB = 200.0  # an exact layer (no error at all) is reported as this, not as infinity
Progress = Callable[[int, int], None]


@dataclass
class LayerError:
    """One quantized op and the error it adds alone."""

    layer: str  # its weight tensor's name: what --keep-float matches
    op: str
    node: int  # its index in the model's main subgraph
    weights: int  # int8 weights it holds
    snr_db: float  # 10 log10(sum ref^2 / sum (quantized - ref)^2) over the samples
    cosine: float  # mean over samples of the cosine between the two outputs

    def as_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "op": self.op, "metric": METRIC, "value": round(self.snr_db, 3)}

    def details(self) -> dict[str, Any]:
        return {**self.as_dict(), "node": self.node, "weights": self.weights, "cosine": round(self.cosine, 6)}


def data_samples(x: Path, frontend_spec: dict[str, Any] | None, count: int = SAMPLES) -> np.ndarray:
    """Up to ``count`` samples spread evenly over ``x`` (a folder's data is sorted by class), through the front end
    the board would apply (log-mel for .wav folders)."""
    data = np.load(x, mmap_mode="r", allow_pickle=False)
    if len(data) == 0:
        raise BadInput(f"{x}: the data has no samples")
    picks = np.unique(np.linspace(0, len(data) - 1, min(count, len(data))).astype(int))
    block = np.asarray(data[picks])
    if frontend_spec:
        block = frontend.apply(frontend_spec, block)
    return block.astype(np.float32) if block.dtype.kind == "f" else block


def quantized_ops(model: schema.ModelT) -> list[tuple[int, str, str, int]]:
    """(node, op type, weight tensor name, elements) of each op of the main subgraph with int8 weights."""
    found = []
    subgraph = model.subgraphs[0]
    for ref in flatbuffer.iter_ops(model):
        inputs = list(ref.operator.inputs if ref.operator.inputs is not None else [])
        if ref.subgraph != 0 or len(inputs) < 2 or inputs[0] < 0 or inputs[1] < 0:
            continue
        weights = subgraph.tensors[inputs[1]]
        if weights.type == schema.TensorType.INT8 and flatbuffer.buffer_array(model, weights) is not None:
            size = int(np.prod(weights.shape)) if weights.shape is not None else 0
            found.append((ref.index, ref.op_type, flatbuffer.tensor_name(weights), size))
    return found


def single_op_model(data: bytes, node: int) -> bytes:
    """The op at ``node`` of the main subgraph alone: its input activation in, its output out, its own weights."""
    model = flatbuffer.read_model(data)
    subgraph = model.subgraphs[0]
    operator = subgraph.operators[node]
    op_inputs = [int(i) for i in operator.inputs]
    op_outputs = [int(i) for i in operator.outputs]
    used = list(dict.fromkeys(i for i in (*op_inputs, *op_outputs) if i >= 0))
    remap = {old: new for new, old in enumerate(used)}
    subgraph.tensors = [subgraph.tensors[i] for i in used]
    operator.inputs = [remap[i] if i >= 0 else -1 for i in op_inputs]
    operator.outputs = [remap[i] for i in op_outputs]
    operator.intermediates = None
    subgraph.operators = [operator]
    subgraph.inputs = [remap[op_inputs[0]]]
    subgraph.outputs = [remap[i] for i in op_outputs]
    model.subgraphs = [subgraph]
    model.signatureDefs = None
    model.metadata = None
    flatbuffer.drop_unused_buffers(model)
    return flatbuffer.write_model(model)


class _Interpreter:
    """A host interpreter built as a board builds one (the agent's runtime loader); errors become BadInput."""

    def __init__(self, runtime: Runtime, model: str | bytes, what: str, *, xnnpack: bool, preserve: bool) -> None:
        self.runtime, self.what = runtime, what
        try:
            with capture_native_output():
                self.interpreter = load_interpreter(runtime, model, 1, xnnpack, preserve_all_tensors=preserve)
        except AgentFailure as failure:
            raise BadInput(f"{what}: {failure.message}", hint=failure.hint) from failure
        self.allocated: list[int] | None = None

    def run(self, array: np.ndarray) -> None:
        detail = self.interpreter.get_input_details()[0]
        shape = list(array.shape)
        if self.allocated != shape:
            try:
                with capture_native_output():
                    allocate(self.runtime, self.interpreter, {detail["name"]: shape})
            except AgentFailure as failure:
                raise BadInput(f"{self.what}: {failure.message}", hint=failure.hint) from failure
            self.allocated = shape
            detail = self.interpreter.get_input_details()[0]
        self.interpreter.set_tensor(detail["index"], agent_inputs.to_input(detail, array))
        self.interpreter.invoke()

    def tensor(self, index: int) -> np.ndarray:
        return np.array(self.interpreter.get_tensor(index), dtype=np.float32)

    def output(self) -> np.ndarray:
        return self.tensor(self.interpreter.get_output_details()[0]["index"])


def _fit(sample: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """One sample shaped as the model's input (batch 1), as the agent's eval shapes it."""
    declared = agent_inputs.signature_shape(detail)
    shape = [1, *sample.shape] if agent_inputs.open_dims(detail) else [1, *(max(d, 1) for d in declared[1:])]
    if int(np.prod(shape)) != sample.size:
        raise BadInput(
            f"a sample of the data has shape {list(sample.shape)} but the model's input "
            f"{agent_inputs.names_of(detail)[0]} takes {declared[1:]}",
            hint="give data preprocessed for this model (npz x of its input shape) or a folder of images or .wav",
        )
    return sample.reshape(shape)


def rank_layers(
    float_model: Path, dynamic_model: Path, samples: np.ndarray, on_progress: Progress | None = None
) -> list[LayerError]:
    """Every quantized layer of ``dynamic_model`` with the error it adds alone, worst (lowest SNR) first."""
    float_bytes, dynamic_bytes = float_model.read_bytes(), dynamic_model.read_bytes()
    dynamic = flatbuffer.read_model(dynamic_bytes, str(dynamic_model))
    reference = flatbuffer.read_model(float_bytes, str(float_model))
    names = [[flatbuffer.tensor_name(t) for t in s.tensors] for s in (reference.subgraphs[0], dynamic.subgraphs[0])]
    if names[0] != names[1]:
        raise BadInput(f"{dynamic_model} is not a dynamic-range rewrite of {float_model}: their tensors differ")
    layers = quantized_ops(dynamic)
    if not layers:
        return []
    runtime = find_runtime()
    host = _Interpreter(runtime, str(float_model), str(float_model), xnnpack=False, preserve=True)
    details = agent_inputs.with_signature_names(host.interpreter, host.interpreter.get_input_details())
    if len(details) != 1:
        raise BadInput(f"tune takes models with one input (as eval does); this one has {len(details)}")
    ops = {node: dynamic.subgraphs[0].operators[node] for node, *_ in layers}
    alone = {node: _Interpreter(runtime, single_op_model(dynamic_bytes, node), f"{dynamic_model} node {node}",
                                xnnpack=True, preserve=False) for node in ops}  # fmt: skip
    signal = dict.fromkeys(ops, 0.0)
    noise = dict.fromkeys(ops, 0.0)
    cosines: dict[int, list[float]] = {node: [] for node in ops}
    for done, sample in enumerate(samples, start=1):
        host.run(_fit(sample, details[0]))
        for node, operator in ops.items():
            activation = host.tensor(int(operator.inputs[0]))
            expected = host.tensor(int(operator.outputs[0])).astype(np.float64)
            alone[node].run(activation)
            got = alone[node].output().astype(np.float64).reshape(expected.shape)
            signal[node] += float(np.sum(expected**2))
            noise[node] += float(np.sum((got - expected) ** 2))
            cosines[node].append(_cosine(expected.ravel(), got.ravel()))
        if on_progress:
            on_progress(done, len(samples))
    found = [LayerError(name, op, node, size, _snr(signal[node], noise[node]), float(np.mean(cosines[node])))
             for node, op, name, size in layers]  # fmt: skip
    return sorted(found, key=lambda layer: (layer.snr_db, layer.node))


def _snr(signal: float, noise: float) -> float:
    if noise <= 0.0:
        return SNR_CAP_DB
    if signal <= 0.0:
        return -SNR_CAP_DB
    return max(-SNR_CAP_DB, min(SNR_CAP_DB, 10.0 * math.log10(signal / noise)))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norms) if norms > 0 else float(np.array_equal(a, b))


def keep_float_regex(layers: Sequence[str]) -> str | None:
    """A ``--keep-float`` expression that matches exactly these weight tensor names."""
    import re

    return "^(?:" + "|".join(re.escape(name) for name in layers) + ")$" if layers else None
