"""``edgedq inspect``: what a TFLite model holds and what XNNPACK really takes of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedq_agent import inputs as agent_inputs
from edgedq_agent.delegation import delegation_summary
from edgedq_agent.runtime import AgentFailure, allocate, find_runtime, load_interpreter

from edgedq.errors import BadInput
from edgedq.quiet import capture_native_output
from edgedq.tflite.compare import InputShapes, run_shapes
from edgedq.tflite.describe import ModelDescription, describe_model


@dataclass
class ModelReport:
    path: str
    description: ModelDescription
    runtime: str
    delegation: dict[str, Any] | None
    delegation_error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self, with_tensors: bool = False) -> dict[str, Any]:
        return {
            "path": self.path,
            **self.description.as_dict(with_tensors),
            "runtime": self.runtime,
            "delegation": self.delegation,
            "delegation_error": self.delegation_error,
            "warnings": self.warnings,
        }


def measure_delegation(path: Path, threads: int = 1, shapes: InputShapes = ()) -> tuple[str, dict[str, Any]]:
    """Load the model with the installed runtime and XNNPACK (inputs at ``shapes`` where they are open), and
    count what it took; an open dimension with no shape given is refused (BadInput), as bench would."""
    runtime = find_runtime()
    with capture_native_output():  # the runtime's "Created XNNPACK delegate" banner
        interpreter = load_interpreter(runtime, str(path), threads=threads, xnnpack=True)
        details = agent_inputs.with_signature_names(interpreter, interpreter.get_input_details())
        allocate(runtime, interpreter, run_shapes(details, shapes, None))
    return f"{runtime.name} {runtime.version}", delegation_summary(interpreter)


def inspect_model(path: str | Path, input_shapes: InputShapes = ()) -> ModelReport:
    """What ``path`` holds, and what XNNPACK takes of it with the inputs at ``input_shapes`` where they are open."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise BadInput(f"{path}: no such model file")
    description = describe_model(path.read_bytes(), str(path))
    try:
        runtime, delegation = measure_delegation(path, shapes=input_shapes)
        error = None
    except AgentFailure as failure:
        runtime, delegation, error = "unavailable", None, failure.message
    except BadInput as needs_shape:
        runtime, delegation, error = "not measured", None, f"{needs_shape.message} ({needs_shape.hint})"
    report = ModelReport(str(path), description, runtime, delegation, error)
    if delegation and delegation["fallback_ops"]:
        fallback = ", ".join(f"{name} x{count}" for name, count in delegation["fallback_ops"].items())
        report.warnings.append(
            f"XNNPACK leaves {delegation['total_nodes'] - delegation['delegated_nodes']} of "
            f"{delegation['total_nodes']} nodes to builtin kernels ({fallback}) in "
            f"{delegation['partitions']} partition(s)"
        )
    if error:
        report.warnings.append(f"delegation not measured: {error}")
    return report
