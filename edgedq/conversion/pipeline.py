"""``edgedq convert``: TensorFlow source -> TFLite variants, cached, with manifests.

float32 is always converted first: the dynamic variant is a rewrite of it,
and every quantized variant is compared against it.  Each variant is cached
by (source hash, mode, options, tool versions), so converting the same thing
twice neither imports TensorFlow nor converts anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from edgedq import __version__, files
from edgedq.conversion import MODES
from edgedq.conversion.dynamic_range import DynamicRangeRecipe, quantize_dynamic_range
from edgedq.conversion.sources import ModelSource, make_converter, open_source
from edgedq.conversion.tf_driver import Calibration, run_converter
from edgedq.errors import BadInput, OutputError
from edgedq.quiet import capture_native_output, prepare_tensorflow_logging
from edgedq.tflite.compare import compare
from edgedq.tflite.describe import describe_model

MANIFEST_VERSION = 1
Stage = Callable[[str], None]


@dataclass
class Variant:
    mode: str
    path: Path
    manifest: dict[str, Any]
    cached: bool

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.name + ".json")


@dataclass
class ConversionResult:
    source: ModelSource
    variants: list[Variant] = field(default_factory=list)
    tensorflow_log: str = ""

    def variant(self, mode: str) -> Variant:
        return next(v for v in self.variants if v.mode == mode)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": {"path": str(self.source.path), "kind": self.source.kind.value, "sha256": self.source.sha256},
            "variants": [{"mode": v.mode, "path": str(v.path), "cached": v.cached, "manifest": v.manifest}
                         for v in self.variants],
        }  # fmt: skip


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


def output_paths(output: Path, modes: list[str]) -> dict[str, Path]:
    """One mode writes OUT itself; several write OUT.<mode>.tflite beside it."""
    if len(modes) == 1:
        return {modes[0]: output}
    stem = output.name[: -len(".tflite")] if output.name.endswith(".tflite") else output.name
    return {mode: output.with_name(f"{stem}.{mode}.tflite") for mode in modes}


class _Converter:
    """Everything one ``convert`` call shares: the source, options, cache, and TF (loaded once)."""

    def __init__(
        self,
        source: ModelSource,
        options: dict[str, Any],
        calibration: Calibration | None,
        recipe: DynamicRangeRecipe,
        on_stage: Stage,
        verbose: bool,
    ) -> None:
        self.source, self.options, self.calibration, self.recipe = source, options, calibration, recipe
        self.on_stage, self.verbose = on_stage, verbose
        self.versions = tool_versions()
        self.cache = files.cache_dir("convert")
        self.tf_converter: Any = None
        self.log: list[str] = []

    def key(self, mode: str) -> str:
        material = {"source": self.source.sha256, "mode": mode, "versions": self.versions}
        if mode == "dynamic":
            material["recipe"] = self.recipe.as_dict()
        if mode == "int8":
            material["calibration"] = self.options["calibration"]["sha256"]  # the bytes, not where they lie
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]

    def cached(self, mode: str) -> tuple[Path, Path]:
        key = self.key(mode)
        return self.cache / f"{key}.tflite", self.cache / f"{key}.json"

    def is_cached(self, mode: str) -> bool:
        model, manifest = self.cached(mode)
        return model.is_file() and manifest.is_file()

    def _tensorflow(self) -> Any:
        if self.tf_converter is None:
            self.on_stage("loading TensorFlow and the source model")
            prepare_tensorflow_logging(self.verbose)
            with capture_native_output(not self.verbose) as out:
                try:
                    self.tf_converter = make_converter(self.source)
                finally:
                    self.log.append(out.text)
        return self.tf_converter

    def build(self, mode: str) -> None:
        """Convert one mode into the cache (float32 must already be there for the others)."""
        model_path, manifest_path = self.cached(mode)
        float_path = self.cached("float32")[0]
        quantization: dict[str, Any] = {}
        if mode == "dynamic":
            self.on_stage("quantizing weights (dynamic range)")
            data, report = quantize_dynamic_range(float_path.read_bytes(), self.recipe)
            quantization = {
                "recipe": self.recipe.as_dict(),
                "quantized_weights": len(report.quantized),
                "kept_float": report.kept_float,
            }
        else:
            converter = self._tensorflow()
            examples = None
            if mode == "int8":
                assert self.calibration is not None
                details = [_detail(t) for t in describe_model(float_path.read_bytes()).inputs]
                examples = self.calibration.examples(details)
                quantization = {"calibration_samples": len(examples)}
            self.on_stage(f"converting with TensorFlow ({mode})")
            with capture_native_output(not self.verbose) as out:
                try:
                    data = run_converter(converter, mode, examples)
                finally:
                    self.log.append(out.text)
        files.atomic_write_bytes(model_path, data)
        manifest = self._manifest(mode, data, quantization)
        if mode != "float32":
            self.on_stage(f"comparing {mode} with float32")
            data_file = self.calibration.path if self.calibration is not None else None
            manifest["fidelity"] = compare(float_path, model_path, data=data_file).as_dict()
        files.atomic_write_json(manifest_path, manifest)

    def _manifest(self, mode: str, data: bytes, quantization: dict[str, Any]) -> dict[str, Any]:
        description = describe_model(data)
        float_size = self.cached("float32")[0].stat().st_size
        return {
            "edgedq_manifest": MANIFEST_VERSION,
            "source": {"path": str(self.source.path), "kind": self.source.kind.value, "sha256": self.source.sha256},
            "mode": mode,
            "options": self.options,
            "versions": self.versions,
            "model": {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_bytes": len(data),
                "size_vs_float32": round(len(data) / float_size, 4),
            },
            "inputs": description.as_dict()["inputs"],
            "outputs": description.as_dict()["outputs"],
            "ops": description.as_dict()["ops"],
            "weight_bytes": description.weight_bytes,
            "quantization": quantization,
        }


def _detail(tensor: Any) -> dict[str, Any]:
    return {"name": tensor.name, "shape": tensor.shape, "shape_signature": tensor.shape, "dtype": tensor.dtype}


def convert(
    source: str | Path,
    output: str | Path,
    modes: str | Sequence[str] = ("dynamic",),
    calibration: str | Path | None = None,
    keep_float: str | None = None,
    on_stage: Stage | None = None,
    verbose: bool = False,
) -> ConversionResult:
    """Convert ``source`` into each of ``modes`` (one mode or several); returns the variants with their manifests."""
    modes = list(dict.fromkeys([modes] if isinstance(modes, str) else modes))
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise BadInput(f"unknown mode {unknown or modes}; choose from {', '.join(MODES)}")
    output = Path(output).expanduser()
    src = open_source(source)
    calib = Calibration.load(calibration) if calibration is not None else None
    if "int8" in modes and calib is None:
        raise BadInput("int8 needs representative inputs", hint="pass --calibration FILE.npz (arrays x or per input)")
    targets = output_paths(output, modes)
    _refuse_overwriting_inputs(targets, [src.path, *([calib.path] if calib else [])])
    for path in targets.values():
        files.check_writable_dir(path)
    recipe = DynamicRangeRecipe(keep_float=keep_float)
    options: dict[str, Any] = {"keep_float": keep_float}
    if calib is not None:
        options["calibration"] = {"path": str(calib.path), "sha256": calib.sha256}
    job = _Converter(src, options, calib, recipe, on_stage or (lambda _stage: None), verbose)
    result = ConversionResult(src)
    hits = {mode: job.is_cached(mode) for mode in modes}
    for mode in ["float32", *(m for m in modes if m != "float32")]:
        if not job.is_cached(mode):
            job.build(mode)
    for mode in modes:
        cached_model, cached_manifest = job.cached(mode)
        manifest = json.loads(cached_manifest.read_text())
        manifest["model"]["path"] = str(targets[mode])
        variant = Variant(mode, targets[mode], manifest, cached=hits[mode])
        _install(cached_model, variant)
        result.variants.append(variant)
    result.tensorflow_log = "".join(job.log)
    return result


def _refuse_overwriting_inputs(targets: dict[str, Path], inputs: list[Path]) -> None:
    """No output (model or manifest) may be an input, or lie inside a SavedModel folder that is one."""
    sources = [path.resolve() for path in inputs]
    for target in targets.values():
        for written in (target, target.with_name(target.name + ".json")):
            resolved = written.resolve()
            clash = next((s for s in sources if resolved == s or s in resolved.parents), None)
            if clash is not None:
                raise OutputError(
                    f"refusing to write {written}: it would overwrite the input {clash}",
                    hint="choose another output path with -o",
                )


def _install(cached_model: Path, variant: Variant) -> None:
    """Copy from the cache to the user's path atomically, manifest beside it."""
    files.atomic_write_bytes(variant.path, cached_model.read_bytes())
    files.atomic_write_json(variant.manifest_path, variant.manifest)


def prepare_models(
    source: Path, modes: list[str], calibration: str | Path | None = None, on_stage: Stage | None = None
) -> list[Path]:
    """A ``.tflite`` as it is; a TensorFlow model converted (cached) into each mode, under EDGEDQ_HOME/models.

    Each source and option set gets its own folder, named by their content: two runs converting different
    sources of the same name at once never see each other's files.
    """
    if source.suffix == ".tflite":
        if not source.is_file():
            raise BadInput(f"{source}: no such model file")
        return [source]
    calibration_sha = files.sha256_file(Path(calibration)) if calibration and Path(calibration).is_file() else None
    identity = {"source": open_source(source).sha256, "calibration": calibration_sha, "versions": tool_versions()}
    folder = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    out = files.edgedq_home() / "models" / folder / f"{source.stem or source.name}.tflite"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = convert(source, out, modes, calibration=calibration, on_stage=on_stage)
    return [result.variant(mode).path for mode in modes]
