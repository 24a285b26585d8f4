"""``edgedq convert``: a TensorFlow source -> TFLite variants at the user's paths, from the cache.

float32 is always converted first: the dynamic variant is a rewrite of it,
and every quantized variant is compared against it (``variants``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedq import files
from edgedq.conversion import MODES
from edgedq.conversion.sources import ModelSource, open_source
from edgedq.conversion.variants import Options, VariantBuilder, check_data, tool_versions
from edgedq.errors import BadInput, OutputError

Stage = Callable[[str], None]
InputShapes = Sequence[tuple[str | None, Sequence[int]]]


@dataclass
class Variant:
    mode: str
    path: Path
    manifest: dict[str, Any]
    cached: bool

    @property
    def manifest_path(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    @property
    def notes(self) -> list[str]:
        """What the user should look at: XNNPACK splitting it, fidelity below the mark, weights left float."""
        notes = []
        delegation = self.manifest.get("delegation") or {}
        if delegation.get("partitions", 1) > 1:
            fallback = ", ".join(f"{k} x{v}" for k, v in delegation.get("fallback_ops", {}).items())
            notes.append(f"{self.mode}: XNNPACK splits it into {delegation['partitions']} partitions ({fallback})")
        if delegation.get("error"):
            notes.append(f"{self.mode}: delegation not measured: {delegation['error']}")
        notes += [f"{self.mode}: {w}" for w in (self.manifest.get("fidelity") or {}).get("warnings", [])]
        if self.manifest.get("fidelity_error"):
            notes.append(f"{self.mode}: fidelity not measured: {self.manifest['fidelity_error']}")
        quantization = self.manifest.get("quantization") or {}
        if self.mode == "dynamic" and quantization.get("quantized_weights") == 0:
            notes.append(f"dynamic: no weight was quantized ({quantization.get('kept_float')}): it is float32")
        if self.mode == "int8" and quantization.get("kept_float") == []:
            notes.append("int8: --keep-float matched no op: it is plain int8")
        return notes


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
            "variants": [{"mode": v.mode, "path": str(v.path), "cached": v.cached, "manifest": v.manifest,
                          "notes": v.notes} for v in self.variants],
        }  # fmt: skip


def output_paths(output: Path, modes: list[str]) -> dict[str, Path]:
    """One mode writes OUT itself; several write OUT.<mode>.tflite beside it."""
    if len(modes) == 1:
        return {modes[0]: output}
    stem = output.name[: -len(".tflite")] if output.name.endswith(".tflite") else output.name
    return {mode: output.with_name(f"{stem}.{mode}.tflite") for mode in modes}


def convert(
    source: str | Path,
    output: str | Path,
    modes: str | Sequence[str] = ("dynamic",),
    calibration: str | Path | None = None,
    keep_float: str | None = None,
    on_stage: Stage | None = None,
    verbose: bool = False,
    *,
    batch: int | None = 1,
    custom_objects: Sequence[str] = (),
    data: str | Path | None = None,
    input_shapes: InputShapes = (),
) -> ConversionResult:
    """Convert ``source`` into each of ``modes`` (one mode or several); returns the variants with their manifests.

    ``batch`` fixes the batch dimension (None keeps it open); ``data`` (or else ``calibration``) are the
    inputs fidelity is measured on; ``input_shapes`` give open input dimensions their size for that.
    """
    modes = list(dict.fromkeys([modes] if isinstance(modes, str) else modes))
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise BadInput(f"unknown mode {unknown or modes}; choose from {', '.join(MODES)}")
    if batch is not None and batch < 1:
        raise BadInput(f"--batch must be a positive number or none, not {batch}")
    output = Path(output).expanduser()
    src = open_source(source)
    options = Options(
        batch=batch,
        keep_float=keep_float,
        custom_objects=list(custom_objects),
        calibration=check_data(calibration, "calibration data"),
        data=check_data(data, "fidelity data"),
        input_shapes=[(name, list(dims)) for name, dims in input_shapes],
    )
    if "int8" in modes and options.calibration is None:
        raise BadInput("int8 needs representative inputs", hint="pass --calibration FILE.npz (arrays x or per input)")
    targets = output_paths(output, modes)
    inputs = [src.path, *(Path(d["path"]) for d in (options.calibration, options.data) if d)]
    _refuse_overwriting_inputs(targets, inputs)
    for path in targets.values():
        _make_parent(path)
    builder = VariantBuilder(src, options, on_stage or (lambda _stage: None), verbose)
    hits = {mode: builder.is_cached(mode) for mode in modes}
    builder.build(modes)
    result = ConversionResult(src, tensorflow_log="".join(builder.log))
    for mode in modes:
        cached_model, cached_manifest = builder.cached(mode)
        manifest = json.loads(cached_manifest.read_text())
        manifest["model"]["path"] = str(targets[mode])
        variant = Variant(mode, targets[mode], manifest, cached=hits[mode])
        _install(cached_model, variant)
        result.variants.append(variant)
    return result


def _make_parent(path: Path) -> None:
    """Create a missing output folder (as ``-o out/m.tflite`` promises), then check it can be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {path.parent}: {exc.strerror}") from None
    files.check_writable_dir(path)


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
    source: Path,
    modes: list[str],
    calibration: str | Path | None = None,
    on_stage: Stage | None = None,
    **options: Any,
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
    identity = {"source": open_source(source).sha256, "calibration": calibration_sha, "versions": tool_versions(),
                **{k: str(v) for k, v in options.items()}}  # fmt: skip
    folder = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    out = files.edgedq_home() / "models" / folder / f"{source.stem or source.name}.tflite"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = convert(source, out, modes, calibration=calibration, on_stage=on_stage, **options)
    return [result.variant(mode).path for mode in modes]
