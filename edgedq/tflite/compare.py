"""Fidelity of a candidate model against a reference, over the same inputs, output by output.

Inputs are the data given (matched to the inputs by name, run at their own
shape), else generated (floats ~ Uniform(-1, 1), seed 0) at the declared
shape; an input with an open dimension other than the batch needs a shape
(``input_shapes``) or data, since its size cannot be guessed.  The result
says which inputs were used: fidelity on generated data can differ a lot
from fidelity on a model's real input range.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from edgedq_agent import inputs as agent_inputs
from edgedq_agent.runtime import AgentFailure, allocate, find_runtime, load_interpreter

from edgedq.errors import BadInput
from edgedq.quiet import capture_native_output
from edgedq.tflite import DEFAULT_SAMPLES

COSINE_WARNING, TOP1_WARNING = 0.99, 0.99
InputShapes = Sequence[tuple[str | None, Sequence[int]]]  # --input-shape: (input name or None, dims)


@dataclass
class OutputFidelity:
    name: str
    max_abs_error: float
    mean_abs_error: float
    cosine_similarity: float  # mean over samples of the per-sample cosine
    top1_agreement: float | None  # only for classifier-shaped outputs ([1, classes])


@dataclass
class Comparison:
    reference: str
    candidate: str
    samples: int
    inputs: str  # which inputs were used: the data file, or how they were generated
    outputs: list[OutputFidelity]
    input_shapes: dict[str, list[int]] = field(default_factory=dict)  # the shapes that were run
    warnings: list[str] = field(default_factory=list)

    @property
    def worst_cosine(self) -> float:
        return min(o.cosine_similarity for o in self.outputs)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class _Runner:
    """One model on the host's runtime, fed one example at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.runtime = find_runtime()
        try:
            with capture_native_output():  # the runtime's "Created XNNPACK delegate" banner
                self.interpreter = load_interpreter(self.runtime, str(path), threads=1, xnnpack=True)
        except AgentFailure as failure:
            raise BadInput(f"{path}: {failure.message}", hint=failure.hint) from failure
        self.inputs = agent_inputs.with_signature_names(self.interpreter, self.interpreter.get_input_details())

    def allocate(self, shapes: Mapping[str, Sequence[int]]) -> None:
        try:
            with capture_native_output():
                allocate(self.runtime, self.interpreter, shapes)
        except AgentFailure as failure:
            raise BadInput(f"{self.path}: {failure.message}", hint=failure.hint) from failure
        self.inputs = agent_inputs.with_signature_names(self.interpreter, self.interpreter.get_input_details())
        self.outputs = agent_inputs.with_signature_names(self.interpreter, self.interpreter.get_output_details())

    def __call__(self, example: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        try:
            for detail in self.inputs:
                self.interpreter.set_tensor(detail["index"], agent_inputs.to_input(detail, example[detail["name"]]))
            self.interpreter.invoke()
        except (RuntimeError, ValueError) as exc:  # e.g. a generated token id past an embedding's table
            raise BadInput(
                f"{self.path.name} failed on these inputs: {str(exc).splitlines()[0]}",
                hint="give inputs in the model's real range (--data FILE.npz)",
            ) from None
        return [agent_inputs.from_output(d, self.interpreter.get_tensor(d["index"])) for d in self.outputs]


def _label(detail: Mapping[str, Any]) -> str:
    return agent_inputs.names_of(detail)[0]


def run_shapes(
    details: Sequence[Mapping[str, Any]], input_shapes: InputShapes, matched: Mapping[str, np.ndarray] | None
) -> dict[str, list[int]]:
    """The shape to run each input at (by tensor name): asked for, else the data's, else the declared one."""
    try:
        shapes = agent_inputs.resolve_shapes(details, dict(input_shapes))
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    for detail in details:
        if detail["name"] in shapes:
            continue
        if matched is not None:
            shapes[detail["name"]] = [1, *matched[detail["name"]].shape[1:]]
        elif agent_inputs.open_dims(detail):
            declared = agent_inputs.signature_shape(detail)
            raise BadInput(
                f"input {_label(detail)} has open dimensions {[d if d > 0 else None for d in declared]}: "
                "its size cannot be guessed",
                hint=f"give data, or its shape: --input-shape {_label(detail)}:"
                + ",".join("N" if d < 0 else str(d) for d in declared),
            )
        else:
            shapes[detail["name"]] = [max(d, 1) for d in agent_inputs.signature_shape(detail)]
    return shapes


def _given(path: Path, runner: _Runner) -> dict[str, np.ndarray]:
    try:
        return agent_inputs.fit_arrays(runner.inputs, agent_inputs.read_npz(str(path)))
    except ValueError as exc:
        raise BadInput(f"{path}: {exc}") from None


def compare(
    reference: str | Path,
    candidate: str | Path,
    data: str | Path | None = None,
    samples: int = DEFAULT_SAMPLES,
    input_shapes: InputShapes = (),
) -> Comparison:
    """Run both models on the same inputs and measure how far the candidate strays, output by output."""
    reference, candidate = Path(reference), Path(candidate)
    for path in (reference, candidate):
        if not path.is_file():
            raise BadInput(f"{path}: no such model file")
    ref_runner, cand_runner = _Runner(reference), _Runner(candidate)
    pairs = _pair_inputs(ref_runner.inputs, cand_runner.inputs)  # by signature name, else by position
    cand_shapes = {d["name"]: agent_inputs.signature_shape(d) for d in cand_runner.inputs}
    declared = {d["name"]: _common_shape(agent_inputs.signature_shape(d), cand_shapes[pairs[d["name"]]])
                for d in ref_runner.inputs} if pairs is not None else {}  # fmt: skip
    if pairs is None or None in declared.values():
        shown = [[(_label(d), agent_inputs.signature_shape(d)) for d in r.inputs] for r in (ref_runner, cand_runner)]
        raise BadInput(f"the models' inputs differ: {shown[0]} vs {shown[1]}")
    matched = _given(Path(data), ref_runner) if data is not None else None
    details = [dict(d, shape_signature=declared[d["name"]]) for d in ref_runner.inputs]
    shapes = run_shapes(details, input_shapes, matched)
    ref_runner.allocate(shapes)
    cand_runner.allocate({pairs[name]: dims for name, dims in shapes.items()})
    if matched is not None:
        count = min(len(a) for a in matched.values())
        examples: Iterator[dict[str, np.ndarray]] = (
            {name: array[i : i + 1] for name, array in matched.items()} for i in range(count)
        )
        described = str(data)
    else:
        count = samples
        # Quantized inputs are generated as floats and quantized per model, so both see the same values.
        float_details = [
            dict(d, dtype=np.float32) if d.get("quantization", (0, 0))[0] else d for d in ref_runner.inputs
        ]
        examples = agent_inputs.sample_stream(float_details, samples)
        described = f"generated: floats ~ Uniform(-1, 1), seed {agent_inputs.DEFAULT_SEED} (not your data's range)"
    errors: list[list[tuple[float, float, float, bool | None]]] = [[] for _ in ref_runner.outputs]
    for example in examples:
        ref_out = ref_runner(example)
        cand_out = cand_runner({pairs[k]: v for k, v in example.items()})
        for slot, (a, b) in enumerate(zip(ref_out, cand_out, strict=True)):
            errors[slot].append(_pair_errors(a, b))
    comparison = Comparison(str(reference), str(candidate), count, described, [], input_shapes={
        _label(d): [int(x) for x in d["shape"]] for d in ref_runner.inputs})  # fmt: skip
    for detail, rows in zip(ref_runner.outputs, errors, strict=True):
        top1 = [r[3] for r in rows if r[3] is not None]
        output = OutputFidelity(
            name=_label(detail),
            max_abs_error=float(max(r[0] for r in rows)),
            mean_abs_error=float(np.mean([r[1] for r in rows])),
            cosine_similarity=float(np.mean([r[2] for r in rows])),
            top1_agreement=float(np.mean(top1)) if top1 else None,
        )
        comparison.outputs.append(output)
        if output.cosine_similarity < COSINE_WARNING:
            comparison.warnings.append(f"{output.name}: cosine {output.cosine_similarity:.5g} is below 0.99")
        if output.top1_agreement is not None and output.top1_agreement < TOP1_WARNING:
            comparison.warnings.append(f"{output.name}: top-1 agreement {output.top1_agreement:.1%} is below 99 %")
    if comparison.warnings and matched is None:
        comparison.warnings.append("measured on generated inputs: give data in the model's real range (--data)")
    return comparison


def _common_shape(reference: list[int], candidate: list[int]) -> list[int] | None:
    """One declared shape for both models, open (-1) only where both are; None where a fixed size differs.

    TensorFlow's own converter keeps a Keras model's open batch, edgedq fixes it (``--batch``): the two still
    compare, each run at the same concrete shape.
    """
    if len(reference) != len(candidate):
        return None
    pairs = list(zip(reference, candidate, strict=True))
    if any(a != b and a >= 0 and b >= 0 for a, b in pairs):
        return None
    return [a if a >= 0 else b for a, b in pairs]


def _pair_inputs(
    reference: Sequence[Mapping[str, Any]], candidate: Sequence[Mapping[str, Any]]
) -> dict[str, str] | None:
    """Reference tensor name -> candidate tensor name: by signature name, else by position; None if they differ."""
    if len(reference) != len(candidate):
        return None
    by_label = {_label(d): d["name"] for d in candidate}
    if all(_label(d) in by_label for d in reference):
        return {d["name"]: by_label[_label(d)] for d in reference}
    return {r["name"]: c["name"] for r, c in zip(reference, candidate, strict=True)}


def _pair_errors(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, bool | None]:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    diff = np.abs(a64 - b64)
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    cosine = float(a64 @ b64 / norms) if norms > 0 else float(np.array_equal(a64, b64))
    classifier = a.ndim == 2 and a.shape[0] == 1 and a.shape[1] > 1
    top1 = bool(a64.argmax() == b64.argmax()) if classifier else None
    return float(diff.max()), float(diff.mean()), cosine, top1
