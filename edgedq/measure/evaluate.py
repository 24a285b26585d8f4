"""``edgedq eval``: accuracy measured where the model runs, scored on the host.

The board returns each sample's top-k classes (``eval``); this module turns
them into top-1/top-5 accuracy, a confusion matrix and per-class precision and
recall, and, given a reference (the float model), the agreement between the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedq.device.connection import Connection
from edgedq.device.inventory import Device
from edgedq.errors import BadInput
from edgedq.measure.datasets import Dataset, load_dataset
from edgedq.measure.events import Events, RunStarted, no_events
from edgedq.measure.runner import AgentRunner, connection_to
from edgedq.tflite.compare import InputShapes
from edgedq.tflite.describe import describe_model


@dataclass
class Accuracy:
    """How one model did on one dataset."""

    model: str
    count: int
    top1: float
    top5: float | None  # only with more than 5 classes
    classes: list[str]
    confusion: list[list[int]]  # rows: true class, columns: predicted
    precision: list[float | None]  # None: the class was never predicted
    recall: list[float | None]  # None: the class has no sample
    top1_predictions: list[int] = field(default_factory=list, repr=False)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "top1_predictions"}


@dataclass
class EvalReport:
    device: str
    data: str
    candidate: Accuracy
    reference: Accuracy | None = None
    threads: int = 1  # the interpreter's threads on the device
    agreement: float | None = None  # share of samples where both models pick the same class
    accuracy_delta: float | None = None  # candidate top-1 minus reference top-1, in points
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "data": self.data,
            "threads": self.threads,
            "candidate": self.candidate.as_dict(),
            "reference": self.reference.as_dict() if self.reference else None,
            "agreement": self.agreement,
            "accuracy_delta_points": self.accuracy_delta,
            "notes": self.notes,
        }


def score(model: str, predictions: list[list[int]], labels: np.ndarray, classes: list[str]) -> Accuracy:
    """Accuracy figures from each sample's ranked classes (best first) and the true labels."""
    if len(predictions) != len(labels):
        raise BadInput(f"{len(predictions)} predictions for {len(labels)} labels")
    count = max(len(classes), int(labels.max(initial=-1)) + 1, max((p[0] for p in predictions), default=-1) + 1)
    names = classes + [str(i) for i in range(len(classes), count)]
    top1 = np.array([p[0] for p in predictions], dtype=np.int64)
    confusion = np.zeros((count, count), dtype=np.int64)
    np.add.at(confusion, (labels, top1), 1)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    diagonal = np.diag(confusion)
    top5 = None
    if count > 5:
        top5 = float(np.mean([label in p[:5] for p, label in zip(predictions, labels, strict=True)]))
    return Accuracy(
        model=model,
        count=len(labels),
        top1=float(np.mean(top1 == labels)) if len(labels) else 0.0,
        top5=top5,
        classes=names,
        confusion=confusion.tolist(),
        precision=[float(d / p) if p else None for d, p in zip(diagonal, predicted, strict=True)],
        recall=[float(d / a) if a else None for d, a in zip(diagonal, actual, strict=True)],
        top1_predictions=top1.tolist(),
    )


def evaluate(
    model: str | Path,
    data: str | Path | Dataset,
    device: Device | str = "local",
    *,
    reference: str | Path | None = None,
    threads: int = 1,
    timeout: float = 300.0,
    lock_wait: float = 600.0,
    connection: Connection | None = None,
    inventory: str | Path | None = None,
    accept_new_host: bool = False,
    on_event: Events | None = None,
    classes: list[str] | None = None,
    input_shapes: InputShapes = (),
) -> EvalReport:
    """Push model(s), agent and data (cached by hash), stream the data through each model on the device.

    ``classes`` names the labels in order (a folder's subfolders are matched to them by name);
    ``input_shapes`` fixes an input's open dimensions (images are resized to it).
    """
    notify = on_event or no_events
    models = [Path(model), *([Path(reference)] if reference else [])]
    for path in models:
        if not path.is_file():
            raise BadInput(f"{path}: no such model file")
    tensor = describe_model(models[0].read_bytes(), str(models[0])).inputs[0]
    shape = next((list(dims) for name, dims in input_shapes if name in (None, tensor.label, tensor.name)), tensor.shape)
    dataset = data if isinstance(data, Dataset) else load_dataset(Path(data), shape, classes)
    scores = []
    with (
        connection_to(device, connection, inventory, accept_new_host, notify) as opened,
        AgentRunner(opened, [*models, dataset.x], lock_wait, notify) as runner,
    ):
        for path in models:
            accuracy, reply = eval_model(runner, path, dataset, threads, timeout, input_shapes, notify)
            scores.append(accuracy)
    report = EvalReport(opened.name, dataset.source, scores[0], threads=threads, notes=_notes(dataset, reply))
    if reference:
        report.reference = scores[1]
        agree = np.equal(scores[0].top1_predictions, scores[1].top1_predictions)
        report.agreement = float(np.mean(agree)) if len(agree) else None
        report.accuracy_delta = round((scores[0].top1 - scores[1].top1) * 100.0, 4)
    return report


def eval_model(
    runner: AgentRunner,
    path: Path,
    dataset: Dataset,
    threads: int,
    timeout: float,
    input_shapes: InputShapes,
    notify: Events,
) -> tuple[Accuracy, dict[str, Any]]:
    """One model over ``dataset`` in a fresh agent process on a device already held (both pushed by ``runner``):
    its accuracy, and the agent's reply."""
    label = f"eval {path.name}"
    notify(RunStarted(runner.device, label))
    body = {
        "model": runner.remote(path),
        "x": runner.remote(dataset.x),
        "frontend": dataset.frontend,
        "threads": threads,
        "top_k": 5,
        "input_shapes": [[name, list(dims)] for name, dims in input_shapes],
    }
    _hello, reply = runner.request("eval", body, timeout, label, verify=[path, dataset.x])
    accuracy = score(str(path), reply["predictions"], dataset.labels, dataset.classes)
    accuracy.seconds = reply["seconds"]
    return accuracy, reply


def _notes(dataset: Dataset, reply: dict[str, Any]) -> list[str]:
    """How labels were read, and a model whose outputs do not match the classes."""
    notes = [f"classes by label: {', '.join(f'{i}={name}' for i, name in enumerate(dataset.classes))}"]
    outputs = reply.get("classes", 0)
    if outputs and outputs != len(dataset.classes):
        notes.append(
            f"the model scores {outputs} classes, the data names {len(dataset.classes)}: a prediction of a class "
            "the data does not name counts as wrong (give --classes to name them all)"
        )
    return notes


def run_samples(
    model: str | Path,
    x: str | Path,
    device: Device | str = "local",
    *,
    count: int = 8,
    frontend: dict[str, Any] | None = None,
    threads: int = 1,
    timeout: float = 120.0,
    lock_wait: float = 600.0,
    connection: Connection | None = None,
    inventory: str | Path | None = None,
    input_shapes: InputShapes = (),
) -> dict[str, Any]:
    """Full outputs of ``model`` for the first ``count`` samples of ``x`` (an .npy), computed on the device."""
    model, x = Path(model), Path(x)
    with (
        connection_to(device, connection, inventory, False, no_events) as opened,
        AgentRunner(opened, [model, x], lock_wait, no_events) as runner,
    ):
        body = {"model": runner.remote(model), "x": runner.remote(x), "count": count, "frontend": frontend,
                "threads": threads, "input_shapes": [[name, list(dims)] for name, dims in input_shapes]}  # fmt: skip
        _hello, reply = runner.request("run", body, timeout, verify=[model, x])
    return reply
