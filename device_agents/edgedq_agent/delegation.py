"""Which nodes a delegate really took, measured from a loaded interpreter.

After a delegate is applied the interpreter keeps the model's original nodes
and appends one ``DELEGATE`` node per partition.  Each partition is a convex
piece of the graph, so walking back from a delegate node's outputs until its
inputs recovers exactly the original nodes it replaced.
"""

from __future__ import annotations

from typing import Any, Dict


def delegation_summary(interpreter: Any) -> Dict[str, Any]:
    """Partitions, delegated/total node counts and the op types left on builtin kernels."""
    wrapper = interpreter._interpreter
    nodes = [
        (wrapper.NodeName(i), list(wrapper.NodeInputs(i)), list(wrapper.NodeOutputs(i)))
        for i in range(wrapper.NumNodes())
    ]
    delegate_nodes = [node for node in nodes if node[0] == "DELEGATE"]
    original = [node for node in nodes if node[0] != "DELEGATE"]
    producer = {}
    for index, (_, _, outputs) in enumerate(original):
        for tensor in outputs:
            if tensor >= 0:  # -1 is an optional tensor left out (a bias-less FULLY_CONNECTED's, say): no one's output
                producer[tensor] = index
    delegated = set()
    for _, inputs, outputs in delegate_nodes:
        boundary = set(inputs)
        stack = [producer[t] for t in outputs if t in producer]
        while stack:
            index = stack.pop()
            if index in delegated:
                continue
            delegated.add(index)
            stack.extend(producer[t] for t in original[index][1] if t in producer and t not in boundary)
    fallback: Dict[str, int] = {}
    for index, (name, _, _) in enumerate(original):
        if index not in delegated:
            fallback[name] = fallback.get(name, 0) + 1
    return {
        "partitions": len(delegate_nodes),
        "delegated_nodes": len(delegated),
        "total_nodes": len(original),
        "fallback_ops": dict(sorted(fallback.items())),
    }
