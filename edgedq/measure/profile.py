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
from edgedq.measure.bench import BenchReport, _check_shapes
from edgedq.measure.events import Events, RunFailed, RunStarted, no_events
from edgedq.measure.runner import AgentRunner, connection_to
from edgedq.tflite import flatbuffer
from edgedq.tflite.flatbuffer import check_model_file

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


# -- XNNPACK operators -> TFLite nodes ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    index: int
    type: str
    output: str  # its first output tensor's name, as benchmark_model names nodes
    weights: str | None = None  # dtype of its filter/weights (through a DEQUANTIZE of fp16 weights)
    kernel: tuple[int, ...] = ()  # the filter's shape
    constant_input: bool = False


_WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}


def graph_nodes(model: Path) -> list[Node]:
    """The main subgraph's nodes in execution order, with what the mapping checks: type, weights and kernel."""
    parsed = flatbuffer.read_model(model.read_bytes(), str(model))
    tensors = parsed.subgraphs[0].tensors or []
    constant = lambda i: i >= 0 and flatbuffer.buffer_array(parsed, tensors[i]) is not None  # noqa: E731
    dequantized: dict[int, int] = {}  # a DEQUANTIZE node's output -> its constant input (fp16 weights)
    nodes = []
    for ref in (r for r in flatbuffer.iter_ops(parsed) if r.subgraph == 0):
        inputs = list(ref.operator.inputs if ref.operator.inputs is not None else [])
        outputs = list(ref.operator.outputs if ref.operator.outputs is not None else [])
        if ref.op_type == "DEQUANTIZE" and inputs and constant(inputs[0]):
            dequantized.update({tensor: inputs[0] for tensor in outputs})
        weights, kernel = None, ()
        if ref.op_type in _WEIGHTED and len(inputs) > 1 and inputs[1] >= 0:
            tensor = tensors[dequantized.get(inputs[1], inputs[1])]
            weights, kernel = (
                flatbuffer.type_name(tensor.type),
                tuple(int(d) for d in (tensor.shape if tensor.shape is not None else [])),
            )
        output = flatbuffer.tensor_name(tensors[outputs[0]]) if outputs else ""
        nodes.append(Node(ref.index, ref.op_type, output, weights, kernel, bool(inputs) and constant(inputs[0])))
    return nodes


# XNNPACK operator kind (its name up to " (") -> the TFLite node types it can run
_KINDS = {
    "Convolution": {"CONV_2D", "DEPTHWISE_CONV_2D"},
    "Fully Connected": {"FULLY_CONNECTED", "CONV_2D", "BATCH_MATMUL"},
    "Batch Matrix Multiply": {"BATCH_MATMUL", "FULLY_CONNECTED"},
    "Deconvolution": {"TRANSPOSE_CONV"},
    "Add": {"ADD"}, "Subtract": {"SUB"}, "Multiply": {"MUL"}, "Divide": {"DIV"}, "Maximum": {"MAXIMUM"},
    "Minimum": {"MINIMUM"}, "Squared Difference": {"SQUARED_DIFFERENCE"},
    "Mean": {"MEAN"}, "Sum": {"SUM"}, "Max": {"REDUCE_MAX"}, "Global Average Pooling": {"MEAN", "AVERAGE_POOL_2D"},
    "Average Pooling": {"AVERAGE_POOL_2D"}, "Max Pooling": {"MAX_POOL_2D"},
    "Softmax": {"SOFTMAX"}, "Sigmoid": {"LOGISTIC"}, "Tanh": {"TANH"}, "HardSwish": {"HARD_SWISH"},
    "Leaky ReLU": {"LEAKY_RELU"}, "ELU": {"ELU"}, "GELU": {"GELU"}, "Clamp": {"RELU", "RELU6", "RELU_N1_TO_1",
    "RELU_0_TO_1"}, "Square Root": {"SQRT"}, "Reciprocal Square Root": {"RSQRT"}, "Negate": {"NEG"}, "Abs": {"ABS"},
    "Square": {"SQUARE"}, "Floor": {"FLOOR"}, "Ceiling": {"CEIL"}, "Bankers Rounding": {"ROUND"}, "Exp": {"EXP"},
    "Log": {"LOG"}, "Constant Pad": {"PAD", "PADV2"}, "Transpose": {"TRANSPOSE"},
    "Static Slice": {"SLICE", "STRIDED_SLICE"}, "Static Reshape": {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"},
    "Copy": {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CONCATENATION", "SPLIT", "SPLIT_V"},
    "Concatenate": {"CONCATENATION"}, "Even Split": {"SPLIT"}, "Resize Bilinear": {"RESIZE_BILINEAR"},
    "Depth To Space": {"DEPTH_TO_SPACE"}, "Space To Depth": {"SPACE_TO_DEPTH"},
    "Convert": {"QUANTIZE", "DEQUANTIZE", "CAST"},
}  # fmt: skip
_FUSABLE = {"RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
OWN_NOTE = "XNNPACK's own (no TFLite node)"
_INT_WEIGHTS = re.compile(r"\bQ[CB]\d+W\b|\bQ[SU]8\b")


def _kind(name: str) -> str:
    return name.split(" (")[0]


def _helper(name: str) -> bool:
    """Operators XNNPACK adds on its own: quantizing a GEMM's input on the fly, reshapes and copies."""
    kind = _kind(name)
    return kind in ("Static Reshape", "Copy") or (kind == "Convert" and bool(re.search(r"\bQ[DP]U?8\b", name)))


def _runs(name: str, node: Node) -> bool:
    """Can XNNPACK operator ``name`` be node ``node``: its type, and for weighted ops the filter and its dtype."""
    if node.type not in _KINDS.get(_kind(name), ()):
        return False
    if name.endswith("DWConv") and node.type != "DEPTHWISE_CONV_2D":
        return False
    if _kind(name) == "Fully Connected" and node.type == "CONV_2D" and node.kernel[1:3] != (1, 1):
        return False  # XNNPACK runs only a 1x1 convolution as a fully connected operator
    if node.weights is not None and _kind(name) in ("Convolution", "Fully Connected", "Deconvolution"):
        return bool(_INT_WEIGHTS.search(name)) == (node.weights in ("int8", "uint8", "int4"))
    return True


def _elidable(node: Node) -> bool:
    """Nodes XNNPACK may run inside another operator (an activation) or fold away (fp16 weights, reshapes)."""
    return node.type in _FUSABLE or (node.type == "DEQUANTIZE" and node.constant_input)


def map_xnnpack(ops: list[dict[str, Any]], graph: list[Node]) -> dict[str, Any]:
    """Tie each XNNPACK operator to a TFLite node where every best alignment of the two sequences agrees.

    The delegated nodes (those not run as builtin ops) and XNNPACK's operators are aligned in order; an operator
    matches a node it can run (``_runs``), several operators may serve one node, XNNPACK's helpers may stand
    alone, and fusable nodes may have no operator.  Among the alignments explaining the most operators by a node,
    an operator gets a node only if all of them give it the same one: else it stays unmapped, and ``note`` says so.
    """
    xnn = [op for op in ops if op["delegate"] == "xnnpack"]
    if not xnn:
        return {"status": "none", "note": "no XNNPACK operators"}
    builtin = {op["node"] for op in ops if op["delegate"] == "builtin"}
    nodes = [node for node in graph if node.index not in builtin]
    names = [op["type"] for op in xnn]
    m, n = len(names), len(nodes)
    if m * n > 250_000:
        return {"status": "unmapped", "note": f"too large to align ({m} operators x {n} nodes)"}

    def moves(i: int, j: int, open_: int):  # -> (label, next state, matched)
        if i < m:
            if _helper(names[i]):
                yield (i, None), (i + 1, j, open_), 0
            if j and open_ and _runs(names[i], nodes[j - 1]):
                yield (i, j - 1), (i + 1, j, 1), 1
            if j < n and _runs(names[i], nodes[j]):
                yield (i, j), (i + 1, j + 1, 1), 1
        if j < n and _elidable(nodes[j]):
            yield ("fused", j), (i, j + 1, 0), 0

    states = [(i, j, o) for i in range(m + 1) for j in range(n + 1) for o in (0, 1)]
    best = {(0, 0, 0): 0}
    for state in states:  # every move increases i or j: this order is topological
        if state in best:
            for _, target, gain in moves(*state):
                best[target] = max(best.get(target, -1), best[state] + gain)
    rest = {(m, n, 0): 0, (m, n, 1): 0}
    for state in reversed(states):
        scores = [gain + rest[t] for _, t, gain in moves(*state) if t in rest]
        if scores and state not in rest:
            rest[state] = max(scores)
    total = rest.get((0, 0, 0))
    if total is None:
        reached = max((i for i, j, o in best), default=0)
        where = f"XNNPACK operator {xnn[reached]['name']} ({names[reached]})" if reached < m else "the last nodes"
        return {"status": "unmapped", "note": f"no alignment with the TFLite nodes explains {where}; left unmapped"}
    choices: dict[Any, set] = {}
    for state, score in best.items():
        for label, target, gain in moves(*state):
            if label[0] != "fused" and target in rest and score + gain + rest[target] == total:
                choices.setdefault(label[0], set()).add(label[1])
    ambiguous = 0
    for i, op in enumerate(xnn):
        options = choices.get(i, set())
        if len(options) == 1:
            (j,) = options
            op["node"] = None if j is None else nodes[j].index
            if j is None:
                op["note"] = OWN_NOTE
        else:
            ambiguous += 1
            op["note"] = "ambiguous: " + " or ".join(sorted("its own" if j is None else f"node {nodes[j].index}"
                                                            for j in options))  # fmt: skip
    served = {j for options in choices.values() for j in options}
    fused = [node.type for j, node in enumerate(nodes) if j not in served]
    mapped = sum(op["node"] is not None for op in xnn)
    own = sum(op.get("note") == OWN_NOTE for op in xnn)
    status = "mapped" if not ambiguous else "partial"
    note = f"{mapped} of {m} XNNPACK operators tied to TFLite nodes by order, type and weights"
    if own:
        note += f"; {own} XNNPACK's own (no node)"
    if ambiguous:
        note += f"; {ambiguous} ambiguous, left unmapped"
    if fused:
        note += "; run inside other operators or folded: " + ", ".join(sorted(set(fused)))
    return {"status": status, "note": note}


# -- running it --------------------------------------------------------------------------------------------------
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
        _check_shapes(path, options.input_shapes)
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
