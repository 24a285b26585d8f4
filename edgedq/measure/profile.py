"""``edgedq profile``: where a model's time goes on the device, operator by operator, XNNPACK's own included.

The agent returns the runtime profiler's raw events (``edgedq_agent.profile``); here they become per-operator
and per-type times, and XNNPACK's operators are mapped back to the TFLite nodes they run, where the order,
types and weights of both allow exactly one reading (else the operator is left unmapped, and the report
says why).  Every model runs in a fresh agent process, after a warm-up, like bench.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedq.device.connection import Connection
from edgedq.device.inventory import Device, get_device
from edgedq.errors import BadInput, ConnectionFailed, EdgedqError
from edgedq.files import sha256_file
from edgedq.measure.bench import BenchReport, check_shapes
from edgedq.measure.events import Events, RunFailed, RunStarted, no_events
from edgedq.measure.runner import AgentRunner, connection_to
from edgedq.tflite.flatbuffer import check_model_file
from edgedq.tflite.op_mapping import graph_nodes, map_xnnpack

BUILTIN, XNNPACK = 1 << 1, 1 << 3  # the agent's event types: a TFLite node, an operator XNNPACK timed itself
DELEGATE_OPERATOR = 1 << 2
STAGE = 1  # LiteRT's own spans: buffer registration, Invoke, buffer sync


@dataclass
class ProfileOptions:
    threads: int | None = None  # None: the device's first thread count
    xnnpack: bool = True
    runs: int = 50
    warmup: int = 1
    max_secs: float = 150.0
    timeout: float = 120.0
    input_shapes: list[tuple[str | None, list[int]]] = field(default_factory=list)
    lock_wait: float = 600.0
    baseline: bool = False  # also time an unprofiled copy of the model, run for run: the profiler's overhead

    @property
    def deadline_s(self) -> float:
        return 2 * (self.max_secs + self.timeout) * (2 if self.baseline else 1)  # a baseline run beside each


@dataclass
class ModelProfile:
    model: str
    model_sha256: str
    device: str
    threads: int
    xnnpack: bool
    runs: int = 0
    wall_ms: float | None = None  # mean measured time of a run, profiler on
    profiled_ms: float | None = None  # the operators' times added up, per run
    unprofiled_wall_ms: float | None = None  # with ProfileOptions.baseline: the same runs without a profiler
    stages_ms: dict[str, float] = field(default_factory=dict)  # LiteRT's own spans per run (Invoke ...)
    ops: list[dict[str, Any]] = field(default_factory=list)
    by_type: list[dict[str, Any]] = field(default_factory=list)
    mapping: dict[str, Any] = field(default_factory=dict)  # how XNNPACK's operators were tied to TFLite nodes
    events: list[dict[str, Any]] = field(default_factory=list)
    init_ms: float | None = None
    first_inference_ms: float | None = None
    runtime: dict[str, str] = field(default_factory=dict)
    input_shapes: dict[str, list[int]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    device_facts: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ProfileReport(BenchReport):
    """One device's profiles; failures count as bench's do (all alike: that error; some: exit 6)."""

    @property
    def profiles(self) -> list[ModelProfile]:
        return self.results  # type: ignore[return-value]

    def as_dict(self) -> dict[str, Any]:
        data = super().as_dict()
        data["profiles"] = data.pop("results")
        return data


# -- events -> operators ----------------------------------------------------------------------------------------
def _operators(events: list[dict[str, Any]], runs: int) -> list[dict[str, Any]]:
    """One entry per operator in the order they ran: XNNPACK's (by partition and index) and builtin nodes."""
    ops: dict[str, dict[str, Any]] = {}
    partition, previous = -1, None
    for row in events:
        xnnpack = row["event_type"] in (XNNPACK, DELEGATE_OPERATOR)
        if xnnpack and (previous is None or not previous[0] or row["metadata1"] <= previous[1]):
            partition += 1  # XNNPACK numbers the operators of each partition from 0
        previous = (xnnpack, row["metadata1"])
        if xnnpack:
            name, node = f"XNNPACK {partition}:{row['metadata1']}", None
        elif row["event_type"] == BUILTIN:  # metadata2: the subgraph (a loop's body runs outside subgraph 0)
            name = f"node {row['metadata1']}" + (f" of subgraph {row['metadata2']}" if row["metadata2"] else "")
            node = None if row["metadata2"] else row["metadata1"]
        else:
            continue
        op = ops.setdefault(name, {"name": name, "type": row["tag"], "delegate": "xnnpack" if xnnpack else "builtin",
                                   "node": node, "ms": 0.0, "calls": 0})  # fmt: skip
        op["ms"] += sum(row["elapsed_us"]) / runs / 1e3  # a node run several times a run is one operator
        op["calls"] += len(row["elapsed_us"])
    return list(ops.values())


def _stages(events: list[dict[str, Any]], runs: int) -> dict[str, float]:
    """LiteRT's own spans per run: buffer registration, Invoke (the interpreter), buffer sync."""
    stages: dict[str, float] = {}
    for row in (r for r in events if r["event_type"] == STAGE):
        name = re.sub(r"^LiteRT::Run\[(.*)\]$", r"\1", row["tag"]).lower()
        stages[name] = stages.get(name, 0.0) + sum(row["elapsed_us"]) / runs / 1e3
    return stages


def _share(ms: float, total: float) -> float:
    return 100 * ms / total if total else 0.0


def summarize(model: Path, reply: dict[str, Any]) -> dict[str, Any]:
    """The agent's raw events as per-run times: operators (mapped to nodes), types, LiteRT's stages, coverage."""
    runs = len(reply["samples_ms"])
    ops = _operators(reply["events"], runs)
    graph = graph_nodes(model)
    mapping = map_xnnpack(ops, graph)
    profiled = sum(op["ms"] for op in ops)
    table = []
    for op in sorted(ops, key=lambda o: -o["ms"]):
        node = graph[op["node"]] if op["node"] is not None and op["node"] < len(graph) else None
        name = node.output if node and op["delegate"] == "builtin" else op["name"]
        table.append(
            {
                "name": name,
                "type": op["type"],
                "delegate": op["delegate"],
                "node": op["node"],
                "node_type": node.type if node else None,
                "avg_ms": op["ms"],
                "percent": _share(op["ms"], profiled),
                "count": op["calls"] / runs,
                "note": op.get("note"),
            }
        )
    types: dict[tuple[str, str], dict[str, Any]] = {}
    for op in table:
        entry = types.setdefault((op["type"], op["delegate"]), dict.fromkeys(("avg_ms", "count"), 0.0))
        entry.update(type=op["type"], delegate=op["delegate"], avg_ms=entry["avg_ms"] + op["avg_ms"],
                     count=entry["count"] + op["count"])  # fmt: skip
    by_type = [
        {**t, "percent": _share(t["avg_ms"], profiled)} for t in sorted(types.values(), key=lambda t: -t["avg_ms"])
    ]
    unprofiled = reply.get("unprofiled_ms")
    return {
        "runs": runs,
        "wall_ms": sum(reply["samples_ms"]) / runs,
        "profiled_ms": profiled,
        "unprofiled_wall_ms": sum(unprofiled) / len(unprofiled) if unprofiled else None,
        "stages_ms": _stages(reply["events"], runs),
        "ops": table,
        "by_type": by_type,
        "mapping": mapping,
    }


def top_ops(summary: dict[str, Any], count: int = 5) -> dict[str, Any]:
    """What bench --profile keeps of a profile: the coverage and the slowest operators."""
    keys = ("runs", "wall_ms", "profiled_ms", "stages_ms", "mapping")
    return {**{k: summary[k] for k in keys}, "top": summary["ops"][:count]}


# -- the run --------------------------------------------------------------------------------------------------------
def profile(
    models: list[Path] | list[str],
    device: Device | str = "local",
    options: ProfileOptions | None = None,
    *,
    connection: Connection | None = None,
    inventory: str | Path | None = None,
    accept_new_host: bool = False,
    on_event: Events | None = None,
) -> ProfileReport:
    """Profile each model on the device in a fresh agent process; a model that fails is reported, the rest run."""
    device = device if isinstance(device, Device) else get_device(device, inventory)
    options = options or ProfileOptions()
    threads = options.threads or device.threads[0]
    notify = on_event or no_events
    paths = [Path(m) for m in models]
    for path in paths:
        if not path.is_file():
            raise BadInput(f"{path}: no such file")
        check_model_file(path)
        check_shapes(path, options.input_shapes)
    started = time.monotonic()
    with connection_to(device, connection, inventory, accept_new_host, notify) as opened:
        report = ProfileReport(opened.name)
        with AgentRunner(opened, paths, options.lock_wait, notify) as runner:
            report.push = runner.push
            for path in paths:
                report.results.append(_profile_one(runner, path, threads, options, notify))
        report.notes = opened.notes
    report.seconds = time.monotonic() - started
    return report


def _profile_one(runner: AgentRunner, path: Path, threads: int, options: ProfileOptions, notify: Events) -> Any:
    result = ModelProfile(str(path), sha256_file(path), runner.device, threads, options.xnnpack)
    label = f"{path.name} threads={threads}{'' if options.xnnpack else ' no-xnnpack'} profile"
    notify(RunStarted(runner.device, label))
    body = {"model": runner.remote(path), "threads": threads, "xnnpack": options.xnnpack, "runs": options.runs,
            "warmup": options.warmup, "max_secs": options.max_secs, "baseline": options.baseline,
            "input_shapes": [[name, dims] for name, dims in options.input_shapes]}  # fmt: skip
    try:
        hello, reply = runner.request(
            "profile", body, options.timeout, label, verify=[path], deadline_s=options.deadline_s
        )
    except ConnectionFailed:
        raise
    except EdgedqError as error:
        result.error = error.as_dict()
        notify(RunFailed(runner.device, label, error.message))
        return result
    result.__dict__.update(summarize(path, reply))
    result.events, result.device_facts = reply["events"], hello["facts"]
    for key in ("init_ms", "first_inference_ms", "runtime", "input_shapes", "outputs"):
        setattr(result, key, reply[key])
    return result
