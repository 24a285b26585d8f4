"""``probe``: prove the runtime works by building an interpreter and running a tiny model that ships in the agent.

Hello only names the runtime; this loads its native library, the way a first
request would, so ``edgedq devices check`` can say "ready" and mean it.
"""

from __future__ import annotations

import pkgutil
import time
from typing import Any, Dict, Mapping

import numpy as np
from edgedq_agent.delegation import delegation_summary
from edgedq_agent.runtime import AgentFailure, Runtime, make_interpreter

PROBE_INPUT = np.arange(4, dtype=np.float32).reshape(1, 4)
PROBE_EXPECTED = PROBE_INPUT * 2.0 + 1.0  # probe.tflite computes x * 2 + 1 (tools/make_probe_model.py)


def run_probe(runtime: Runtime, request: Mapping[str, Any]) -> Dict[str, Any]:
    model = pkgutil.get_data("edgedq_agent", "probe.tflite")
    if not model:
        raise AgentFailure("agent_incomplete", "the agent was built without probe.tflite", "reinstall edgedq")
    start = time.perf_counter()
    interpreter = make_interpreter(runtime, model, 1, bool(request.get("xnnpack", True)))
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], PROBE_INPUT)
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    probe_ms = (time.perf_counter() - start) * 1e3
    if not np.allclose(output, PROBE_EXPECTED):
        raise AgentFailure(
            "runtime_wrong_result",
            "%s %s computed %s for the probe model, expected %s"
            % (runtime.name, runtime.version, output.tolist(), PROBE_EXPECTED.tolist()),
            "reinstall the runtime on the board",
        )
    return {
        "runtime": runtime.describe(),
        "runtime_load_ms": runtime.load_ms,
        "probe_ms": probe_ms,
        "delegation": delegation_summary(interpreter),
    }
