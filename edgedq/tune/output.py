"""Writing what ``tune`` chose: the model at ``-o`` (one per board when the boards chose differently) and, beside
it, a manifest that holds its conversion manifest and why it was chosen, with the figures of every candidate."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgedq import files
from edgedq.errors import OutputError
from edgedq.tune.candidates import Converted
from edgedq.tune.result import DeviceTune, TuneReport


def targets(output: Path, devices: Sequence[DeviceTune]) -> dict[str, Path]:
    """Board -> where its choice goes: ``output`` when every board chose the same candidate, else
    ``OUT.<board>.tflite`` each (a board name made safe for a file name)."""
    chosen = [d for d in devices if d.chosen is not None]
    if len({d.chosen.name for d in chosen}) <= 1:  # type: ignore[union-attr]
        return {d.device: output for d in chosen}
    stem = output.name[: -len(".tflite")] if output.name.endswith(".tflite") else output.name
    return {d.device: output.with_name(f"{stem}.{re.sub(r'[^A-Za-z0-9_.-]', '_', d.device)}.tflite") for d in chosen}


def _refuse_inputs(paths: Sequence[Path], inputs: Sequence[Path | None]) -> None:
    sources = [Path(p).expanduser().resolve() for p in inputs if p is not None]
    for path in paths:
        for written in (path, path.with_name(path.name + ".json")):
            resolved = written.resolve()
            clash = next((s for s in sources if resolved == s or s in resolved.parents), None)
            if clash is not None:
                raise OutputError(f"refusing to write {written}: it would overwrite the input {clash}",
                                  hint="choose another output path with -o")  # fmt: skip


def tune_manifest(report: TuneReport, device: DeviceTune) -> dict[str, Any]:
    """Why this model: the rule, the ranking it started from and every candidate's figures on the board."""
    return {
        "source": report.source,
        "data": report.data,
        "device": device.device,
        "rule": f"the fastest candidate ({report.metric}) whose top-1 is within {report.max_drop_points:g} points "
        "of float32's, measured on the board",
        "max_drop_points": report.max_drop_points,
        "metric": report.metric,
        "chosen": device.chosen.name if device.chosen else None,
        "reason": device.reason,
        "float32_accuracy": device.float32_accuracy,
        "pareto_front": device.pareto_front,
        "stopped_early": device.stopped_early,
        "emulated": device.emulated,
        "sensitivity": [layer.details() for layer in report.sensitivity],
        "candidates": [
            {
                **c.as_dict(),
                "sha256": c.bench.model_sha256 if c.bench else None,
                "latency_stats_ms": c.bench.latency_ms.as_dict() if c.bench and c.bench.latency_ms else None,
                "peak_rss_mb": (c.bench.memory_mb or {}).get("peak_rss") if c.bench else None,
                "error": c.error,
            }
            for c in device.candidates
        ],  # fmt: skip
    }


def check_output(output: Path, inputs: Sequence[Path | None]) -> None:
    """Before anything is measured: ``-o`` is no input, and its folder can be made and written."""
    _refuse_inputs([output], inputs)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {output.parent}: {exc.strerror}") from None
    files.check_writable_dir(output)


def save_chosen(
    report: TuneReport, converted: dict[str, Converted], output: Path, inputs: Sequence[Path | None]
) -> None:
    """Write each board's chosen model and its manifest (``OUT.tflite.json``); ``saved`` says where."""
    output = Path(output).expanduser()
    where = targets(output, report.devices)
    for path in set(where.values()):
        check_output(path, inputs)
    for device in report.devices:
        if device.device not in where or device.chosen is None:
            continue
        path, made = where[device.device], converted[device.chosen.name]
        boards = [d for d in report.devices if where.get(d.device) == path]
        manifest = {**made.manifest, "model": {**made.manifest["model"], "path": str(path)},
                    "tune": [tune_manifest(report, d) for d in boards]}  # fmt: skip
        files.atomic_write_bytes(path, made.path.read_bytes())
        files.atomic_write_json(path.with_name(path.name + ".json"), manifest)
        device.saved = str(path)
