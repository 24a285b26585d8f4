"""What both live loops share: the model, a meter of the agent's CPU and memory and the board's heat, and ticks.

A live loop runs until its stream ends, its ``seconds`` of stream time are done, or the host kills it (Ctrl-C:
the whole process group goes, the source's process with it).  Whatever the host has when that happens is what
the loop sent: so every tick carries raw per-window figures since the last tick, never only aggregates.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
from edgedq_agent import inputs, system
from edgedq_agent.delegation import delegation_summary
from edgedq_agent.protocol import emit
from edgedq_agent.runtime import AgentFailure, Runtime, allocate, load_interpreter

THERMAL_EVERY_S = 5.0  # vcgencmd is a process start: not on every tick


class LiveModel:
    """One interpreter with a single input, allocated at its declared shape (batch 1)."""

    def __init__(self, runtime: Runtime, request: Mapping[str, Any]) -> None:
        path = request["model"]
        if not os.path.isfile(path):
            raise AgentFailure("model_missing", "model file not found: %s" % path)
        self.interpreter = load_interpreter(runtime, path, int(request.get("threads", 1)), True)
        details = self.interpreter.get_input_details()
        if len(details) != 1:
            raise AgentFailure("bad_inputs", "live loops take models with one input; this one has %d" % len(details))
        shape = [max(int(d), 1) for d in inputs.signature_shape(details[0])]
        allocate(runtime, self.interpreter, {details[0]["name"]: shape})
        self.input = self.interpreter.get_input_details()[0]
        self.shape: List[int] = [int(d) for d in self.input["shape"]]
        self.outputs = inputs.with_signature_names(self.interpreter, self.interpreter.get_output_details())
        self.delegation = delegation_summary(self.interpreter)

    def run(self, sample: np.ndarray) -> Dict[str, np.ndarray]:
        """Outputs by name (the author's, where the model keeps it) for one input."""
        self.interpreter.set_tensor(self.input["index"], inputs.to_input(self.input, sample.reshape(self.shape)))
        self.interpreter.invoke()
        return {
            inputs.names_of(d)[0]: inputs.from_output(d, self.interpreter.get_tensor(d["index"])) for d in self.outputs
        }


class Meter:
    """The agent's CPU share (of one core) between samples, its memory, and the board's thermal state."""

    def __init__(self) -> None:
        system.reset_peak_rss()
        self.started = time.perf_counter()
        self._last_wall, self._last_cpu = self.started, self._cpu()
        self._first_cpu = self._last_cpu
        self._next_thermal = 0.0
        self.thermal_start = system.thermal_state()

    @staticmethod
    def _cpu() -> float:
        times = os.times()
        return times.user + times.system

    def sample(self) -> Dict[str, Any]:
        now, cpu = time.perf_counter(), self._cpu()
        share = 100.0 * (cpu - self._last_cpu) / max(now - self._last_wall, 1e-6)
        self._last_wall, self._last_cpu = now, cpu
        memory = system.proc_status_kb("VmRSS", "VmHWM")
        figures: Dict[str, Any] = {"cpu_percent": share, "rss_kb": memory["VmRSS"], "peak_rss_kb": memory["VmHWM"]}
        if now >= self._next_thermal:
            figures["thermal"] = system.thermal_state()
            self._next_thermal = now + THERMAL_EVERY_S
        return figures

    def totals(self) -> Dict[str, Any]:
        now = time.perf_counter()
        memory = system.proc_status_kb("VmRSS", "VmHWM")
        return {
            "cpu_percent": 100.0 * (self._cpu() - self._first_cpu) / max(now - self.started, 1e-6),
            "memory_kb": {"rss": memory["VmRSS"], "peak_rss": memory["VmHWM"]},
            "thermal": {"start": self.thermal_start, "end": system.thermal_state()},
        }


class Ticker:
    """Sends a ``tick`` event every ``every_s`` wall seconds with what the loop gathered since the last one."""

    def __init__(self, meter: Meter, every_s: float) -> None:
        self.meter, self.every_s = meter, every_s
        self.next_at = time.perf_counter() + every_s

    def due(self) -> bool:
        return time.perf_counter() >= self.next_at

    def send(self, **fields: Any) -> None:
        emit("event", kind="tick", wall_s=time.perf_counter() - self.meter.started, **fields, **self.meter.sample())
        self.next_at = time.perf_counter() + self.every_s


def seconds_limit(request: Mapping[str, Any]) -> Optional[float]:
    """Stream seconds to run for; None: until the stream ends or the host stops the agent."""
    seconds = request.get("seconds")
    return float(seconds) if seconds is not None else None


def run_summary(runtime: Runtime, model: LiveModel, source: Any, ended: str, meter: Meter) -> Dict[str, Any]:
    """What every live result says, speech or vision: the runtime, delegation, source and how the stream ended."""
    return {
        "runtime": runtime.describe(),
        "delegation": model.delegation,
        "source": source.describe(),
        "source_error": source.error.message if source.error else None,
        "ended": ended,
        **meter.totals(),
    }
