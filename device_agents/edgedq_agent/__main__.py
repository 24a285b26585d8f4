"""``python3 agent.pyz``: say hello, then serve requests from stdin until EOF."""

from __future__ import annotations

import json
import os
import sys
import traceback

# numpy only makes inputs and compares outputs here: OpenBLAS's idle thread pool (one per core) has no business
# beside XNNPACK's threads on the board's cores, nor in the RSS the agent reports; benchmark_model has neither.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from edgedq_agent import AGENT_VERSION, PROTOCOL_VERSION, protocol, system
from edgedq_agent.protocol import emit, log
from edgedq_agent.runtime import AgentFailure, find_runtime, locate_runtime
from edgedq_agent.verify import verify_files

HANDLED = ("bench", "eval", "run", "probe", "profile", "live_speech", "live_vision")


def _handler(kind):
    """Imported on first use: hello must work on a board that has no numpy yet."""
    if kind == "bench":
        from edgedq_agent.bench import run_bench

        return run_bench
    if kind == "probe":
        from edgedq_agent.probe import run_probe

        return run_probe
    if kind == "profile":
        from edgedq_agent.profile import run_profile

        return run_profile
    if kind == "live_speech":
        from edgedq_agent.live_speech import run_live_speech

        return run_live_speech
    if kind == "live_vision":
        from edgedq_agent.live_vision import run_live_vision

        return run_live_vision
    from edgedq_agent.evaluate import run_eval, run_samples

    return {"eval": run_eval, "run": run_samples}[kind]


def main() -> int:
    preferred = None
    if len(sys.argv) > 2 and sys.argv[1] == "--runtime":
        preferred = sys.argv[2]
    located, runtime_error = None, None
    try:
        located = locate_runtime(preferred)
    except AgentFailure as failure:
        runtime_error = failure.as_dict()
    emit("hello", agent_version=AGENT_VERSION, facts=system.facts(located), runtime_error=runtime_error)
    runtime = None  # loaded by the first request that needs it, before that request's own clocks start
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
        except ValueError:
            emit("error", id=None, code="bad_request", message="not JSON: %r" % line[:80])
            continue
        request_id = protocol.current_request = request.get("id")
        if request.get("protocol") != PROTOCOL_VERSION:
            emit(
                "error",
                id=request_id,
                code="protocol_mismatch",
                message="agent speaks protocol %s, request is %s" % (PROTOCOL_VERSION, request.get("protocol")),
            )
            continue
        if request.get("type") not in HANDLED:
            emit("error", id=request_id, code="unknown_request", message="unknown request %r" % request.get("type"))
            continue
        if runtime_error:
            emit("error", id=request_id, **runtime_error)
            continue
        try:
            verify_files(request.get("verify") or {})
            runtime = runtime or find_runtime(preferred)
            emit("result", id=request_id, **_handler(request["type"])(runtime, request))
        except AgentFailure as failure:
            emit("error", id=request_id, **failure.as_dict())
        except Exception as exc:  # report, don't die: the host gets a structured error
            log(traceback.format_exc())
            emit("error", id=request_id, code="agent_exception", message="%s: %s" % (type(exc).__name__, exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
