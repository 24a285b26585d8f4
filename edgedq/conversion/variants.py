"""Building one source's variants into the cache: TensorFlow's in a child process, dynamic by rewriting float32,
each with its manifest (interface, ops, delegation and fidelity against float32).

Every variant is cached by (source, mode, options, tool versions): converting the same thing twice neither
imports TensorFlow nor converts anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from edgedq import __version__, files
from edgedq.conversion.dynamic_range import DynamicRangeRecipe, quantize_dynamic_range
from edgedq.conversion.sources import ModelSource
from edgedq.conversion.tf_driver import kept_nodes
from edgedq.conversion.worker import Job, convert_in_child
from edgedq.errors import BadInput, EdgedqError
from edgedq.tflite import flatbuffer
from edgedq.tflite.compare import compare
from edgedq.tflite.describe import describe_model
from edgedq.tflite.inspection import measure_delegation

MANIFEST_VERSION = 2
TENSORFLOW_MODES = ("float32", "float16", "int8", "tf-default")
Stage = Callable[[str], None]


def _version(distribution: str, *alternatives: str) -> str | None:
    for name in (distribution, *alternatives):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def tool_versions() -> dict[str, str | None]:
    return {
        "edgedq": __version__,
        "tensorflow": _version("tensorflow", "tensorflow-cpu"),
        "ai_edge_litert": _version("ai-edge-litert"),
        "quantizer": f"edgedq.dynamic_range {__version__}",
    }


@dataclass
class Options:
    """What a conversion depends on besides the source: each is in the cache key and the manifest."""

    batch: int | None = 1
    keep_float: str | None = None
    custom_objects: list[str] = field(default_factory=list)
    calibration: dict[str, str] | None = None  # {"path", "sha256"}: int8's representative data
    data: dict[str, str] | None = None  # {"path", "sha256"}: fidelity's inputs, when not the calibration data
    input_shapes: list[tuple[str | None, list[int]]] = field(default_factory=list)

    @property
    def fidelity_data(self) -> Path | None:
        chosen = self.data or self.calibration
        return Path(chosen["path"]) if chosen else None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class VariantBuilder:
    """Everything one ``convert`` call shares: the source, the options and the cache."""

    def __init__(self, source: ModelSource, options: Options, on_stage: Stage, verbose: bool) -> None:
        self.source, self.options, self.on_stage, self.verbose = source, options, on_stage, verbose
        self.recipe = DynamicRangeRecipe(keep_float=options.keep_float)
        self.versions = tool_versions()
        self.cache = files.cache_dir("convert")
        self.log: list[str] = []

    def key(self, mode: str) -> str:
        material = {"source": self.source.sha256, "mode": mode, "versions": self.versions, **self.options.as_dict()}
        if mode not in ("dynamic", "int8"):  # --keep-float changes nothing else: float32 is shared by every recipe
            material["keep_float"] = None
        material["calibration"] = (self.options.calibration or {}).get("sha256")  # the bytes, not where they lie
        material["data"] = (self.options.data or {}).get("sha256")
        material["recipe"] = self.recipe.as_dict() if mode == "dynamic" else None
        if mode == "int8" and self.options.keep_float:  # selective int8: another recipe than plain int8
            material["recipe"] = {"int8_keep_float": self.options.keep_float}
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def cached(self, mode: str) -> tuple[Path, Path]:
        key = self.key(mode)
        return self.cache / f"{key}.tflite", self.cache / f"{key}.json"

    def is_cached(self, mode: str) -> bool:
        model, manifest = self.cached(mode)
        return model.is_file() and manifest.is_file()

    def build(self, modes: list[str]) -> None:
        """Every mode of ``modes`` not yet cached (and float32, which the others are measured against)."""
        wanted = [m for m in dict.fromkeys(["float32", *modes]) if not self.is_cached(m)]
        outputs = {m: str(self.cached(m)[0]) for m in wanted if m in TENSORFLOW_MODES}
        quantization: dict[str, dict[str, Any]] = {}
        if outputs:
            calibration = self.options.calibration["path"] if self.options.calibration else None
            job = Job(str(self.source.path), self.source.kind.value, self.source.sha256, outputs,
                      self.options.batch, self.options.custom_objects, calibration, self.verbose,
                      self.options.keep_float)  # fmt: skip
            outcome = convert_in_child(job, self.on_stage)
            self.log.append(outcome.log)
            for path in outputs.values():  # the model author's output names, not output_0 ...
                renamed = flatbuffer.rename_signature_outputs(Path(path).read_bytes(), outcome.output_names)
                files.atomic_write_bytes(Path(path), renamed)
            if "int8" in outputs:
                quantization["int8"] = {"calibration_samples": outcome.calibration_samples}
                if self.options.keep_float:
                    kept = kept_nodes(Path(outputs["int8"]).read_bytes(), self.options.keep_float, float_only=True)
                    quantization["int8"]["kept_float"] = kept
        if "dynamic" in wanted:
            self.on_stage("quantizing weights (dynamic range)")
            data, report = quantize_dynamic_range(self.cached("float32")[0].read_bytes(), self.recipe)
            files.atomic_write_bytes(self.cached("dynamic")[0], data)
            quantization["dynamic"] = {
                "recipe": self.recipe.as_dict(),
                "quantized_weights": len(report.quantized),
                "kept_float": report.kept_float,
            }
        for mode in wanted:
            self._write_manifest(mode, quantization.get(mode, {}))

    def _write_manifest(self, mode: str, quantization: dict[str, Any]) -> None:
        model_path, manifest_path = self.cached(mode)
        data = model_path.read_bytes()
        description = describe_model(data).as_dict()
        float_size = self.cached("float32")[0].stat().st_size
        manifest: dict[str, Any] = {
            "edgedq_manifest": MANIFEST_VERSION,
            "source": {"path": str(self.source.path), "kind": self.source.kind.value, "sha256": self.source.sha256},
            "mode": mode,
            "options": {**self.options.as_dict(), **({} if mode in ("dynamic", "int8") else {"keep_float": None})},
            "versions": self.versions,
            "model": {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_bytes": len(data),
                "size_vs_float32": round(len(data) / float_size, 4),
            },
            "inputs": description["inputs"],
            "outputs": description["outputs"],
            "ops": description["ops"],
            "weight_bytes": description["weight_bytes"],
            "quantization": quantization,
            "delegation": self._delegation(model_path),
        }
        if mode != "float32":
            self.on_stage(f"comparing {mode} with float32")
            try:
                fidelity = compare(self.cached("float32")[0], model_path, data=self.options.fidelity_data,
                                   input_shapes=self.options.input_shapes)  # fmt: skip
                manifest["fidelity"] = fidelity.as_dict()
            except BadInput as needs_shape:  # an open input and nothing to size it: say so, do not guess
                manifest["fidelity"] = None
                manifest["fidelity_error"] = f"{needs_shape.message} ({needs_shape.hint})"
        files.atomic_write_json(manifest_path, manifest)

    def _delegation(self, model: Path) -> dict[str, Any]:
        """What XNNPACK takes of the model on this host (or why that could not be measured)."""
        try:
            return measure_delegation(model, shapes=self.options.input_shapes)[1]
        except (EdgedqError, ValueError) as error:
            return {"error": getattr(error, "message", str(error))}


def check_data(path: str | Path | None, what: str) -> dict[str, str] | None:
    """An .npz given for calibration or fidelity: present and readable now, before any slow work."""
    if path is None:
        return None
    from edgedq_agent import inputs as agent_inputs

    path = Path(path).expanduser()
    if not path.is_file():
        raise BadInput(f"{what} {path}: no such file")
    try:
        agent_inputs.read_npz(str(path))
    except ValueError as exc:
        raise BadInput(f"{what} {exc}") from None
    return {"path": str(path), "sha256": files.sha256_file(path)}
