"""``eval`` and ``run``: a model over real data on the board.

``eval`` streams a dataset (``.npy`` files, memory-mapped, read a chunk at a
time, so a small board never holds it whole) through the model and returns
each sample's top-k classes; the host scores them.  ``run`` returns the full
outputs for a few samples, for demos and for checking the board against the host.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
from edgedq_agent import frontend, inputs
from edgedq_agent.protocol import emit, finite_list
from edgedq_agent.runtime import AgentFailure, Runtime, allocate, load_interpreter

PROGRESS_EVERY_S = 1.0
RUN_LIMIT = 64  # samples per ``run``: full outputs go back as JSON


class Model:
    """One interpreter and how to feed its single input from a sample (after the optional front end).

    It is allocated at the first block of data: an input with open dimensions takes the shape of the
    samples (or the one asked for), so variable-length data runs at its real length.
    """

    def __init__(self, runtime: Runtime, request: Mapping[str, Any]) -> None:
        path = request["model"]
        if not os.path.isfile(path):
            raise AgentFailure("model_missing", "model file not found: %s" % path)
        self.runtime = runtime
        self.interpreter = load_interpreter(
            runtime, path, int(request.get("threads", 1)), bool(request.get("xnnpack", True))
        )
        details = inputs.with_signature_names(self.interpreter, self.interpreter.get_input_details())
        if len(details) != 1:
            raise AgentFailure("bad_inputs", "eval and run take models with one input; this one has %d" % len(details))
        self.input = details[0]
        try:
            explicit = inputs.resolve_shapes(details, dict(request.get("input_shapes") or []))
        except ValueError as exc:
            raise AgentFailure("bad_inputs", str(exc)) from None
        self.shape: Optional[List[int]] = explicit.get(self.input["name"])
        self.outputs: List[Mapping] = []
        self.frontend: Optional[Mapping[str, Any]] = request.get("frontend")

    def _allocate(self, sample_shape: List[int]) -> None:
        declared = inputs.signature_shape(self.input)
        if self.shape is None and inputs.open_dims(self.input):
            if len(sample_shape) + 1 != len(declared):
                raise AgentFailure(
                    "bad_inputs",
                    "input %s has open dimensions %s and samples of shape %s: give its shape"
                    % (inputs.names_of(self.input)[0], [d if d > 0 else None for d in declared], sample_shape),
                    "--input-shape %s:1,..." % inputs.names_of(self.input)[0],
                )
            self.shape = [1] + sample_shape
        self.shape = self.shape or [max(d, 1) for d in declared]
        allocate(self.runtime, self.interpreter, {self.input["name"]: self.shape})
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()

    def prepare(self, block: np.ndarray) -> np.ndarray:
        """A block of raw samples -> features shaped like the model's input (batch 1 each)."""
        if self.frontend:
            try:
                block = frontend.apply(self.frontend, block)
            except ValueError as exc:
                raise AgentFailure("bad_inputs", str(exc)) from None
        if not self.outputs:
            self._allocate(list(block.shape[1:]))
        per_sample = int(np.prod(self.shape[1:]))
        if block[0].size != per_sample:
            raise AgentFailure(
                "bad_inputs",
                "a sample has shape %s but input %s expects %s"
                % (list(block.shape[1:]), inputs.names_of(self.input)[0], self.shape[1:]),
            )
        return block.reshape([len(block)] + [1] + self.shape[1:])

    def invoke(self, sample: np.ndarray) -> List[np.ndarray]:
        self.interpreter.set_tensor(self.input["index"], inputs.to_input(self.input, sample))
        self.interpreter.invoke()
        return [inputs.from_output(d, self.interpreter.get_tensor(d["index"])) for d in self.outputs]


def _open_array(path: str, what: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:
        raise AgentFailure("bad_inputs", "cannot read the %s %s: %s" % (what, path, exc)) from None


def run_eval(runtime: Runtime, request: Mapping[str, Any]) -> Dict[str, Any]:
    model = Model(runtime, request)
    data = _open_array(request["x"], "data")
    top_k = int(request.get("top_k", 5))
    chunk = int(request.get("chunk", 256))
    predictions: List[List[int]] = []
    started = time.perf_counter()
    next_report = started + PROGRESS_EVERY_S
    for start in range(0, len(data), chunk):
        block = model.prepare(np.asarray(data[start : start + chunk]))
        for sample in block:
            scores = model.invoke(sample)[0].reshape(-1)
            predictions.append(np.argsort(-scores, kind="stable")[:top_k].tolist())
        if time.perf_counter() >= next_report:
            emit("progress", phase="eval", done=len(predictions), target=len(data))
            next_report = time.perf_counter() + PROGRESS_EVERY_S
    return {
        "runtime": runtime.describe(),
        "count": len(predictions),
        "classes": int(np.prod(model.outputs[0]["shape"][1:])) if model.outputs else 0,
        "predictions": predictions,
        "seconds": time.perf_counter() - started,
    }


def run_samples(runtime: Runtime, request: Mapping[str, Any]) -> Dict[str, Any]:
    model = Model(runtime, request)
    data = _open_array(request["x"], "inputs")
    first = int(request.get("start", 0))
    block = model.prepare(np.asarray(data[first : first + min(int(request.get("count", 8)), RUN_LIMIT)]))
    results = []
    for sample in block:
        started = time.perf_counter()
        outputs = model.invoke(sample)
        results.append(
            {"latency_ms": (time.perf_counter() - started) * 1e3, "outputs": [finite_list(o) for o in outputs]}
        )
    return {
        "runtime": runtime.describe(),
        "output_names": [d["name"] for d in model.outputs],
        "output_shapes": [list(d["shape"]) for d in model.outputs],
        "samples": results,
    }
