"""One model in one configuration, measured the way benchmark_model does, samples returned raw.

Load + allocate, the first inference, warm-up and counted runs are kept apart.
The counted loop only sets inputs, invokes and reads the clock; statistics
are the host's job.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
from edgedq_agent import inputs, system
from edgedq_agent.delegation import delegation_summary
from edgedq_agent.protocol import emit, finite_list
from edgedq_agent.runtime import AgentFailure, Runtime, allocate, load_interpreter

PROGRESS_EVERY_S = 1.0


def given_inputs(request: Mapping[str, Any]) -> Optional[Dict[str, np.ndarray]]:
    path = request.get("inputs")
    if not path:
        return None
    try:
        return inputs.read_npz(path)
    except ValueError as exc:
        raise AgentFailure("bad_inputs", str(exc)) from None


def input_shapes(
    details: List[Mapping], explicit: Mapping, given: Optional[Mapping[str, np.ndarray]]
) -> Tuple[Dict[str, List[int]], Optional[Dict[str, np.ndarray]]]:
    """The shape to run each input at (by tensor name), and the given arrays matched to the inputs.

    A shape asked for wins; else a given array's own (its first example); else the declared shape, an open
    batch as 1.  Any other open dimension without a shape is refused: it would be timed at 1 without a word.
    """
    try:
        shapes = inputs.resolve_shapes(details, explicit)
        matched = inputs.fit_arrays(details, given) if given is not None else None
    except ValueError as exc:
        raise AgentFailure("bad_inputs", str(exc)) from None
    for detail in details:
        name = detail["name"]
        if name in shapes:
            continue
        if matched is not None:
            shapes[name] = [1] + list(matched[name].shape[1:])
        elif inputs.open_dims(detail):
            raise AgentFailure(
                "bad_inputs",
                "input %s has open dimensions %s: give its real shape"
                % (inputs.names_of(detail)[0], [d if d > 0 else None for d in inputs.signature_shape(detail)]),
                "--input-shape %s:%s"
                % (
                    inputs.names_of(detail)[0],
                    ",".join("N" if d < 0 else str(d) for d in inputs.signature_shape(detail)),
                ),
            )
        else:
            shapes[name] = [max(d, 1) for d in inputs.signature_shape(detail)]
    return shapes, matched


def explicit_shapes(request: Mapping[str, Any]):
    """--input-shape as the host sent it: [[name or null, [dims]], ...]."""
    return [(name, dims) for name, dims in request.get("input_shapes") or []]


def _memory() -> Dict[str, Any]:
    status = system.proc_status_kb("VmRSS", "VmHWM")
    return {"rss_kb": status["VmRSS"], "hwm_kb": status["VmHWM"]}


def run_bench(runtime: Runtime, request: Mapping[str, Any]) -> Dict[str, Any]:
    model_path = request["model"]
    if not os.path.isfile(model_path):
        raise AgentFailure("model_missing", "model file not found: %s" % model_path)
    threads, xnnpack = int(request.get("threads", 1)), bool(request.get("xnnpack", True))
    warmup, runs = int(request.get("warmup", 1)), int(request.get("runs", 50))
    min_secs, max_secs = float(request.get("min_secs", 0.0)), float(request.get("max_secs", 150.0))
    given = given_inputs(request)
    thermal_before = system.thermal_state()
    hwm_reset = system.reset_peak_rss()
    before_load = _memory()

    start = time.perf_counter()
    interpreter = load_interpreter(runtime, model_path, threads, xnnpack)
    loaded = time.perf_counter()
    details = inputs.with_signature_names(interpreter, interpreter.get_input_details())
    shapes, matched = input_shapes(details, dict(explicit_shapes(request)), given)
    resume = time.perf_counter()
    allocate(runtime, interpreter, shapes)
    init_ms = (loaded - start + time.perf_counter() - resume) * 1e3  # load + allocate; matching inputs aside
    after_load = _memory()
    delegation = delegation_summary(interpreter)

    details = inputs.with_signature_names(interpreter, interpreter.get_input_details())
    if matched is None:
        feeds = inputs.random_inputs(details, int(request.get("seed", inputs.DEFAULT_SEED)))
    else:
        feeds = {d["name"]: inputs.to_input(d, matched[d["name"]][:1]) for d in details}
    bound = [(d["index"], feeds[d["name"]]) for d in details]
    set_tensor, invoke, clock = interpreter.set_tensor, interpreter.invoke, time.perf_counter

    start = clock()
    try:
        for index, value in bound:
            set_tensor(index, value)
        invoke()
    except (RuntimeError, ValueError) as exc:  # e.g. a generated token id past an embedding's table
        raise AgentFailure(
            "inference_failed",
            "the model failed on its %s inputs: %s"
            % ("given" if matched is not None else "generated", str(exc).strip().splitlines()[0]),
            "give inputs in the model's real range: --inputs FILE.npz",
        ) from None
    first_ms = (clock() - start) * 1e3

    warmup_ms = _timed_runs(bound, set_tensor, invoke, clock, warmup, 0.0, max_secs, "warmup")
    samples_ms = _timed_runs(bound, set_tensor, invoke, clock, runs, min_secs, max_secs, "runs")
    after_run = _memory()
    rollup = system.smaps_rollup_kb()
    outputs = {
        inputs.names_of(d)[0]: {
            "shape": list(np.shape(v)),
            "checksum": finite_list(np.asarray(v, dtype=np.float64).sum())[0],
        }
        for d in inputs.with_signature_names(interpreter, interpreter.get_output_details())
        for v in [interpreter.get_tensor(d["index"])]
    }
    result = {
        "runtime": runtime.describe(),
        "runtime_load_ms": runtime.load_ms,
        "threads": threads,
        "xnnpack": xnnpack,
        "init_ms": init_ms,
        "first_inference_ms": first_ms,
        "warmup_ms": warmup_ms,
        "samples_ms": samples_ms,
        "delegation": delegation,
        "memory_kb": {
            "rss_before_load": before_load["rss_kb"],
            "rss_after_load": after_load["rss_kb"],
            "rss_after_run": after_run["rss_kb"],
            "peak_rss": after_run["hwm_kb"],
            "peak_reset_before_load": hwm_reset,
            "pss": rollup["pss"],
            "uss": rollup["uss"],
        },
        "thermal": {"before": thermal_before, "after": system.thermal_state()},
        "inputs": request.get("inputs") or "generated (seed %s)" % request.get("seed", inputs.DEFAULT_SEED),
        "input_shapes": {inputs.names_of(d)[0]: [int(x) for x in d["shape"]] for d in details},
        "outputs": outputs,
    }
    if request.get("profile"):  # after every figure above was taken: the profile runs the model again
        from edgedq_agent.profile import run_profile

        try:
            result["profile"] = run_profile(runtime, request)
        except AgentFailure as failure:
            result["profile_error"] = failure.as_dict()
    return result


def _timed_runs(bound, set_tensor, invoke, clock, count: int, min_secs: float, max_secs: float, phase: str) -> list:
    """At least ``count`` runs and ``min_secs`` seconds, at most ``max_secs``; one sample per run in ms."""
    samples = []
    append = samples.append
    began = clock()
    next_report = began + PROGRESS_EVERY_S
    while True:
        start = clock()
        for index, value in bound:
            set_tensor(index, value)
        invoke()
        end = clock()
        append((end - start) * 1e3)
        elapsed = end - began
        if (len(samples) >= count and elapsed >= min_secs) or elapsed >= max_secs:
            return samples
        if end >= next_report:  # outside the timed span: the clock was read before this
            emit("progress", phase=phase, done=len(samples), target=count, elapsed_s=round(elapsed, 3))
            next_report = end + PROGRESS_EVERY_S
