"""Fidelity of a candidate model against a reference, over the same inputs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from edgedq_agent import inputs as agent_inputs
from edgedq_agent.runtime import AgentFailure, find_runtime, make_interpreter

from edgedq.errors import BadInput
from edgedq.quiet import capture_native_output
from edgedq.tflite import DEFAULT_SAMPLES


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
    inputs: str  # "generated (Uniform(-1,1), seed 0)" or the data file
    outputs: list[OutputFidelity]

    @property
    def worst_cosine(self) -> float:
        return min(o.cosine_similarity for o in self.outputs)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class _Runner:
    """One model on the host's runtime, fed one example at a time."""

    def __init__(self, path: Path) -> None:
        try:
            with capture_native_output():  # the runtime's "Created XNNPACK delegate" banner
                self.interpreter = make_interpreter(find_runtime(), str(path), threads=1, xnnpack=True)
        except AgentFailure as failure:
            raise BadInput(f"{path}: {failure.message}", hint=failure.hint) from failure
        self.inputs = self.interpreter.get_input_details()
        self.outputs = self.interpreter.get_output_details()

    def __call__(self, example: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        for detail in self.inputs:
            self.interpreter.set_tensor(detail["index"], agent_inputs.to_input(detail, example[detail["name"]]))
        self.interpreter.invoke()
        return [agent_inputs.from_output(d, self.interpreter.get_tensor(d["index"])) for d in self.outputs]


def _examples_from_file(path: Path, runner: _Runner) -> tuple[int, Iterator[dict[str, np.ndarray]]]:
    try:
        matched = agent_inputs.fit_arrays(runner.inputs, agent_inputs.read_npz(str(path)))
    except ValueError as exc:
        raise BadInput(f"{path}: {exc}") from exc
    count = min(len(a) for a in matched.values())
    return count, ({name: array[i : i + 1] for name, array in matched.items()} for i in range(count))


def compare(
    reference: str | Path,
    candidate: str | Path,
    data: str | Path | None = None,
    samples: int = DEFAULT_SAMPLES,
) -> Comparison:
    """Run both models on the same inputs and measure how far the candidate strays."""
    reference, candidate = Path(reference), Path(candidate)
    for path in (reference, candidate):
        if not path.is_file():
            raise BadInput(f"{path}: no such model file")
    ref_runner, cand_runner = _Runner(reference), _Runner(candidate)
    ref_names = [(d["name"], list(d["shape"])) for d in ref_runner.inputs]
    cand_names = [(d["name"], list(d["shape"])) for d in cand_runner.inputs]
    if [s for _, s in ref_names] != [s for _, s in cand_names]:
        raise BadInput(f"the models' inputs differ: {ref_names} vs {cand_names}")
    # The candidate may name its inputs differently: feed by position.
    rename = {r[0]: c[0] for r, c in zip(ref_names, cand_names, strict=True)}
    if data is not None:
        count, examples = _examples_from_file(Path(data), ref_runner)
        described = str(data)
    else:
        count = samples
        # Quantized inputs are generated as floats and quantized per model, so both see the same values.
        float_details = [
            dict(d, dtype=np.float32) if d.get("quantization", (0, 0))[0] else d for d in ref_runner.inputs
        ]
        examples = agent_inputs.sample_stream(float_details, samples)
        described = f"generated ({samples} samples, floats ~ Uniform(-1, 1), seed {agent_inputs.DEFAULT_SEED})"
    errors: list[list[tuple[float, float, float, bool | None]]] = [[] for _ in ref_runner.outputs]
    for example in examples:
        ref_out = ref_runner(example)
        cand_out = cand_runner({rename[k]: v for k, v in example.items()})
        for slot, (a, b) in enumerate(zip(ref_out, cand_out, strict=True)):
            errors[slot].append(_pair_errors(a, b))
    outputs = []
    for detail, rows in zip(ref_runner.outputs, errors, strict=True):
        top1 = [r[3] for r in rows if r[3] is not None]
        outputs.append(
            OutputFidelity(
                name=detail["name"],
                max_abs_error=float(max(r[0] for r in rows)),
                mean_abs_error=float(np.mean([r[1] for r in rows])),
                cosine_similarity=float(np.mean([r[2] for r in rows])),
                top1_agreement=float(np.mean(top1)) if top1 else None,
            )
        )
    return Comparison(str(reference), str(candidate), count, described, outputs)


def _pair_errors(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, bool | None]:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    diff = np.abs(a64 - b64)
    norms = np.linalg.norm(a64) * np.linalg.norm(b64)
    cosine = float(a64 @ b64 / norms) if norms > 0 else float(np.array_equal(a64, b64))
    classifier = a.ndim == 2 and a.shape[0] == 1 and a.shape[1] > 1
    top1 = bool(a64.argmax() == b64.argmax()) if classifier else None
    return float(diff.max()), float(diff.mean()), cosine, top1
