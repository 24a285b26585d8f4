"""XNNPACK's operators mapped back to the TFLite nodes they run, where that can be done honestly.

XNNPACK operators do not map 1:1 to nodes (a 1x1 CONV_2D runs as "Fully Connected", XNNPACK adds converts and
reshapes of its own, fused activations vanish): operators and delegated nodes are aligned in order, by kind and
weight type, and an operator gets a node only if every best alignment agrees; the rest stay unmapped, said so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedq.tflite import flatbuffer


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
