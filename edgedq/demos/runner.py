"""What every demo does once it has a trained model: convert, deploy, measure, recognize.

Convert to float32, dynamic and int8 (calibrated on training data), then on the
device: benchmark each variant, evaluate each on the held-out set (float32 as
the reference), and run each on a few real inputs to show what it recognized.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedq import files
from edgedq.conversion.pipeline import convert
from edgedq.device import connect
from edgedq.device.connection import Connection
from edgedq.device.inventory import Device
from edgedq.errors import EdgedqError
from edgedq.measure.bench import BenchOptions, bench
from edgedq.measure.datasets import Dataset
from edgedq.measure.evaluate import evaluate, run_samples
from edgedq.measure.events import Events, Stage
from edgedq.quiet import capture_native_output, prepare_tensorflow_logging

MODES = ["float32", "dynamic", "int8"]


@dataclass
class Trained:
    """A demo's model and data: the Keras source, calibration inputs, the held-out set and a few samples to show."""

    name: str
    source: Path
    calibration: Path
    test: Dataset
    samples: Path  # raw inputs (.npy), the first SAMPLES of the test set
    sample_labels: list[int]
    classes: list[str]
    frontend: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class VariantResult:
    mode: str
    size_bytes: int
    accuracy: float
    agreement_with_float32: float | None
    latency_ms: dict[str, float]
    path: str


@dataclass
class DemoReport:
    demo: str
    device: str
    variants: list[VariantResult]
    samples: list[dict[str, Any]]
    notes: list[str]
    emulated: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "demo": self.demo,
            "device": self.device,
            "variants": [v.__dict__ for v in self.variants],
            "samples": self.samples,
            "notes": self.notes,
            "emulated": self.emulated,
        }


def demo_folder(demo: str, settings: dict[str, Any]) -> Path:
    """Where a demo caches its data and model: named by the settings, so a change retrains.

    A cache folder (``EDGEDQ_CACHE`` when set, else the edgedq home): runs with private homes share the training.
    """
    key = hashlib.sha256(json.dumps({"demo": demo, **settings}, sort_keys=True).encode()).hexdigest()[:12]
    folder = files.cache_dir("demos") / f"{demo}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def train_keras(
    path: Path, build: Callable[[], Any], x: np.ndarray, y: np.ndarray, epochs: int, learning_rate: float
) -> Path:
    """Train a classifier (logits out) once and save it atomically at ``path``; later calls reuse it."""
    if path.is_file():
        return path
    prepare_tensorflow_logging(verbose=False)
    with capture_native_output():  # TensorFlow's start-up chatter
        import keras

    keras.utils.set_random_seed(0)
    model = build()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    temp = path.with_name(f".{path.stem}.partial.keras")
    model.save(temp)
    temp.replace(path)
    return path


def save_npy(path: Path, array: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    files.atomic_write_bytes(path, buffer.getvalue())
    return path


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    """Atomically: an interrupted demo must not leave a half-written cache that the next run trusts."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    files.atomic_write_bytes(path, buffer.getvalue())
    return path


def run_demo(trained: Trained, device: Device, runs: int, notify: Events) -> DemoReport:
    notify(Stage(device.name, "converting to float32, dynamic and int8"))
    out = files.edgedq_home() / "demos" / trained.name / f"{trained.name}.tflite"
    out.parent.mkdir(parents=True, exist_ok=True)
    conversion = convert(trained.source, out, MODES, calibration=trained.calibration)
    models = {mode: conversion.variant(mode).path for mode in MODES}
    with connect(device) as connection:
        notify(Stage(device.name, f"benchmarking on {device.name}"))
        options = BenchOptions(threads=[1], runs=runs, warmup=5)
        timings = bench(list(models.values()), device, options, connection=connection, on_event=notify).results
        failed = [t for t in timings if not t.ok]
        if failed:
            raise EdgedqError.from_dict(failed[0].error)  # type: ignore[arg-type]
        variants, top1 = [], {}
        for mode, timing in zip(MODES, timings, strict=True):
            notify(Stage(device.name, f"evaluating {mode} on {device.name} ({trained.test.count} held-out samples)"))
            reference = models["float32"] if mode != "float32" else None
            report = evaluate(models[mode], trained.test, device, reference=reference, connection=connection,
                              on_event=notify)  # fmt: skip
            top1[mode] = report.candidate.top1_predictions
            variants.append(
                VariantResult(
                    mode=mode,
                    size_bytes=models[mode].stat().st_size,
                    accuracy=report.candidate.top1,
                    agreement_with_float32=report.agreement,
                    latency_ms=timing.latency_ms.as_dict() if timing.latency_ms else {},
                    path=str(models[mode]),
                )
            )
        notify(Stage(device.name, f"recognizing {len(trained.sample_labels)} inputs on {device.name}"))
        shown = {mode: _recognize(models[mode], connection, trained) for mode in MODES}
    samples = [
        {
            "index": i,
            "label": trained.classes[label],
            "predictions": {mode: trained.classes[shown[mode][i]] for mode in MODES},
        }
        for i, label in enumerate(trained.sample_labels)
    ]
    emulated = timings[0].device_facts.get("emulated") if timings else None
    return DemoReport(trained.name, device.name, variants, samples, trained.notes, emulated)


def _recognize(model: Path, connection: Connection, trained: Trained) -> list[int]:
    reply = run_samples(model, trained.samples, count=len(trained.sample_labels), frontend=trained.frontend,
                        connection=connection)  # fmt: skip
    return [int(np.argmax(sample["outputs"][0])) for sample in reply["samples"]]
