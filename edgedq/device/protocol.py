"""What the agent may say, checked field by field before the host believes any of it.

A board can run an old, broken or hostile agent; a message that does not fit
the protocol is that request's error (``ProtocolViolation``, exit code 12),
never a crash of the host and never a number in a table.  JSON's non-standard
``NaN``/``Infinity`` are refused at parsing, so saved results stay valid JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from edgedq_agent import PROTOCOL_VERSION

from edgedq.errors import AgentError


class ProtocolViolation(AgentError):
    """The agent sent something the protocol does not allow."""


Check = Callable[[Any, str], None]  # raises ProtocolViolation naming the field


def _fail(where: str, why: str) -> None:
    raise ProtocolViolation(f"the agent broke the protocol: {where} {why}", code="protocol_violation")


def typed(kind: type, *, minimum: float | None = None) -> Check:
    def check(value: Any, where: str) -> None:
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                _fail(where, f"must be a finite number, not {value!r:.40}")
        elif isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            _fail(where, f"must be {kind.__name__}, not {type(value).__name__}")
        if minimum is not None and value < minimum:
            _fail(where, f"must be at least {minimum:g}, not {value!r}")

    return check


def optional(check: Check) -> Check:
    """null, or left out of its object, or what ``check`` accepts."""

    def optional_check(value: Any, where: str) -> None:
        if value is not None:
            check(value, where)

    optional_check.optional = True  # type: ignore[attr-defined]
    return optional_check


def listof(check: Check, *, nonempty: bool = False) -> Check:
    def list_check(value: Any, where: str) -> None:
        if not isinstance(value, list):
            _fail(where, f"must be a list, not {type(value).__name__}")
        if nonempty and not value:
            _fail(where, "must not be empty")
        for index, item in enumerate(value):
            check(item, f"{where}[{index}]")

    return list_check


def mapping(fields: dict[str, Check] | None = None, values: Check | None = None) -> Check:
    """An object with these required ``fields`` (others are allowed), or with every value checked by ``values``."""

    def mapping_check(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            _fail(where, f"must be an object, not {type(value).__name__}")
        for name, check in (fields or {}).items():
            if name not in value and not getattr(check, "optional", False):
                _fail(where, f"lacks {name!r}")
            check(value.get(name), f"{where}.{name}")
        if values is not None:
            for name, item in value.items():
                values(item, f"{where}.{name}")

    return mapping_check


NUMBER, COUNT, TEXT = typed(float), typed(int, minimum=0), typed(str)
MILLISECONDS = typed(float, minimum=0)
RUNTIME = mapping({"name": TEXT, "version": TEXT})
DELEGATION = mapping(
    {"partitions": COUNT, "delegated_nodes": COUNT, "total_nodes": COUNT, "fallback_ops": mapping(values=COUNT)}
)
THERMAL = mapping(
    {
        "temperature_c": optional(NUMBER),
        "governor": optional(TEXT),
        "cpu_mhz": optional(NUMBER),
        "throttled_now": listof(TEXT),
    }
)
ERROR = {"code": TEXT, "message": TEXT, "hint": optional(TEXT)}
OUTPUTS = mapping(values=mapping({"shape": listof(COUNT), "checksum": optional(NUMBER)}))
PROFILE = {  # the runtime profiler's raw events: one time per run (µs) for each event of a run
    "runtime": RUNTIME,
    "threads": COUNT,
    "xnnpack": typed(bool),
    "init_ms": MILLISECONDS,
    "first_inference_ms": MILLISECONDS,
    "samples_ms": listof(MILLISECONDS, nonempty=True),
    "unprofiled_ms": optional(listof(MILLISECONDS, nonempty=True)),
    "events": listof(
        mapping(
            {
                "tag": TEXT,
                "event_type": COUNT,
                "metadata1": typed(int),
                "metadata2": typed(int),
                "source": COUNT,
                "elapsed_us": listof(COUNT, nonempty=True),
            }
        )
    ),
    "input_shapes": mapping(values=listof(COUNT)),
    "outputs": OUTPUTS,
}

LIVE_TICK = {  # what every tick of a live loop carries: its raw figures since the last tick, and the meter's
    "wall_s": MILLISECONDS,
    "latency_ms": listof(MILLISECONDS),
    "cpu_percent": MILLISECONDS,
    "rss_kb": optional(COUNT),
    "peak_rss_kb": optional(COUNT),
    "thermal": optional(THERMAL),
}
LIVE_TOTALS = {
    "runtime": RUNTIME,
    "delegation": DELEGATION,
    "source": TEXT,
    "source_error": optional(TEXT),
    "ended": TEXT,
    "stream_s": MILLISECONDS,
    "cpu_percent": MILLISECONDS,
    "memory_kb": mapping({"rss": optional(COUNT), "peak_rss": optional(COUNT)}),
    "thermal": mapping({"start": THERMAL, "end": THERMAL}),
}


def parallel(*names: str) -> Check:
    """Lists in one object that describe the same items: as many of each."""

    def parallel_check(value: Any, where: str) -> None:
        lengths = {name: len(value[name]) for name in names if isinstance(value.get(name), list)}
        if len(set(lengths.values())) > 1:
            _fail(where, f"has lists of different lengths: {lengths}")

    return parallel_check


def every(*checks: Check) -> Check:
    def every_check(value: Any, where: str) -> None:
        for check in checks:
            check(value, where)

    return every_check


# The events of each streaming request, by their ``kind``.
EVENTS: dict[str, dict[str, Check]] = {
    "live_speech": {
        "tick": mapping({**LIVE_TICK, "stream_s": MILLISECONDS, "processing_s": MILLISECONDS, "windows": COUNT}),
        "detection": mapping({"time_s": MILLISECONDS, "keyword": TEXT, "score": NUMBER, "latency_ms": MILLISECONDS}),
    },
    "live_vision": {
        "tick": every(
            mapping(
                {
                    **LIVE_TICK,
                    "processed": COUNT,
                    "dropped": COUNT,
                    "last": optional(mapping({"frame": COUNT, "score": NUMBER})),
                    "frame": listof(COUNT),
                    "t_s": listof(MILLISECONDS),
                    "score": listof(NUMBER),
                    "label": listof(optional(TEXT)),
                }
            ),
            parallel("frame", "t_s", "latency_ms", "score", "label"),
        ),
    },
}

MESSAGES: dict[str, dict[str, Check]] = {
    "hello": {
        "agent_version": TEXT,
        "facts": mapping({"arch": TEXT, "cpu_features": listof(TEXT), "python": TEXT, "thermal": THERMAL}),
        "runtime_error": optional(mapping(ERROR)),
    },
    "progress": {"id": TEXT, "phase": TEXT, "done": COUNT, "target": COUNT},
    "event": {"id": TEXT, "kind": TEXT},  # a streaming request's own news: checked by EVENTS
    "error": {"id": optional(TEXT), **ERROR},
    "result": {"id": TEXT},
}
RESULTS: dict[str, dict[str, Check]] = {
    "bench": {
        "runtime": RUNTIME,
        "runtime_load_ms": optional(MILLISECONDS),
        "init_ms": MILLISECONDS,
        "first_inference_ms": MILLISECONDS,
        "warmup_ms": listof(MILLISECONDS),
        "samples_ms": listof(MILLISECONDS, nonempty=True),
        "delegation": DELEGATION,
        "memory_kb": mapping(
            {key: optional(COUNT) for key in ("rss_before_load", "rss_after_load", "rss_after_run", "peak_rss")}
            | {"pss": optional(COUNT), "uss": optional(COUNT)}
        ),
        "thermal": mapping({"before": THERMAL, "after": THERMAL}),
        "outputs": OUTPUTS,
        "profile": optional(mapping(PROFILE)),  # bench --profile
        "profile_error": optional(mapping(ERROR)),
    },
    "eval": {"runtime": RUNTIME, "count": COUNT, "predictions": listof(listof(COUNT)), "seconds": MILLISECONDS},
    "run": {
        "output_names": listof(TEXT),
        "output_shapes": listof(listof(COUNT)),
        "samples": listof(mapping({"latency_ms": MILLISECONDS, "outputs": listof(listof(optional(NUMBER)))})),
    },
    "probe": {"runtime": RUNTIME, "runtime_load_ms": MILLISECONDS, "probe_ms": MILLISECONDS, "delegation": DELEGATION},
    "profile": PROFILE,
    "live_speech": {
        **LIVE_TOTALS,
        "windows": COUNT,
        "processing_s": MILLISECONDS,
        "real_time_factor": optional(MILLISECONDS),
    },
    "live_vision": {**LIVE_TOTALS, "processed": COUNT, "dropped": COUNT},
}


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse(line: str) -> dict[str, Any]:
    """One line of the agent's stdout as a protocol message (envelope checked; a result's body is checked later)."""
    try:
        message = json.loads(line, parse_constant=_no_constants)
    except ValueError as exc:
        raise ProtocolViolation(
            f"the agent broke the protocol: a line is not JSON ({exc}): {line[:120]!r}", code="protocol_violation"
        ) from None
    if not isinstance(message, dict):
        _fail("a message", f"must be a JSON object, not {type(message).__name__}")
    if message.get("protocol") != PROTOCOL_VERSION:  # another version's messages may have other fields
        raise AgentError(
            f"the agent speaks protocol {message.get('protocol')}, this edgedq speaks {PROTOCOL_VERSION}",
            hint="the agent will be redeployed; if this persists, reinstall edgedq",
            code="protocol_mismatch",
        )
    kind = message.get("type")
    if kind not in MESSAGES:
        _fail("a message", f"has unknown type {kind!r}" if kind is not None else "has no 'type'")
    mapping(MESSAGES[kind])(message, kind)
    return message


def check_event(request: str, event: dict[str, Any]) -> dict[str, Any]:
    """An ``event`` message of a ``request``, as that request's events are defined (an unknown kind is refused)."""
    kinds = EVENTS.get(request, {})
    if event.get("kind") not in kinds:
        _fail(f"a {request} event", f"has unknown kind {event.get('kind')!r}")
    kinds[event["kind"]](event, f"the {request} {event['kind']} event")
    return event


def check_result(kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """A result's body, as the request ``kind`` defines it."""
    mapping(RESULTS.get(kind, {}))(result, f"the {kind} result")
    return result
