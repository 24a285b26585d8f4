"""The candidates ``tune`` measures, as data, and their conversion (each once, through the cached pipeline).

float32 (the reference), dynamic, dynamic with the k layers the sensitivity ranking puts first kept in float
(k = 1, 2, 4 ... below the number of quantized layers, at most ``KEEP_STEPS`` steps), int8 and int8 with the same
layers in float when calibration data is given, and float16.  They are listed in the order a board measures them:
the reference first, the likeliest winners next, float16 (XNNPACK widens its weights to float32 at load: rarely
faster) last, so a run stopped by its time budget has measured what matters most.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedq import files
from edgedq.conversion.pipeline import convert
from edgedq.conversion.sources import open_source
from edgedq.tune.sensitivity import LayerError, keep_float_regex

KEEP_STEPS = 3
Stage = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """How to make one candidate: a conversion mode and the layers (weight tensor names) kept in float."""

    name: str  # float32, dynamic, dynamic-keep2, int8-keep1 ...
    mode: str
    keep_float: tuple[str, ...] = ()

    @property
    def regex(self) -> str | None:
        return keep_float_regex(self.keep_float)


@dataclass
class Converted:
    """A recipe made: the model file and its conversion manifest."""

    recipe: Recipe
    path: Path
    manifest: dict[str, Any] = field(repr=False)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def ladder(count: int, steps: int = KEEP_STEPS) -> list[int]:
    """How many of the ``count`` ranked layers to keep in float: 1, 2, 4 ... (all of them would be float32)."""
    found, k = [], 1
    while k < count and len(found) < steps:
        found.append(k)
        k *= 2
    return found


def plan(ranking: Sequence[LayerError], calibrated: bool, steps: int = KEEP_STEPS) -> list[Recipe]:
    """Every candidate for a model whose quantized layers rank as ``ranking`` (worst first)."""
    keeps = [tuple(layer.layer for layer in ranking[:k]) for k in ladder(len(ranking), steps)]
    recipes = [Recipe("float32", "float32"), Recipe("dynamic", "dynamic")]
    recipes += [Recipe(f"dynamic-keep{len(keep)}", "dynamic", keep) for keep in keeps]
    if calibrated:
        recipes.append(Recipe("int8", "int8"))
        recipes += [Recipe(f"int8-keep{len(keep)}", "int8", keep) for keep in keeps]
    recipes.append(Recipe("float16", "float16"))
    return recipes


def work_folder(source: Path, identity: dict[str, Any]) -> Path:
    """Where one tune's candidates live: named by the source's content and everything the candidates depend on
    (the data the ranking came from, calibration, conversion options), so two tunes never share a file by name."""
    material = {"source": open_source(source).sha256, **identity}
    key = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:16]
    folder = files.edgedq_home() / "tune" / key
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def convert_recipe(
    source: Path, recipe: Recipe, folder: Path, calibration: Path | None, on_stage: Stage, **options: Any
) -> Converted:
    """One candidate through the cached pipeline (float32 is shared by all: converted once, whatever is kept)."""
    stem = source.stem or source.name
    target = folder / f"{stem}.{recipe.name}.tflite"
    result = convert(source, target, [recipe.mode], calibration=calibration, keep_float=recipe.regex,
                     on_stage=on_stage, **options)  # fmt: skip
    variant = result.variant(recipe.mode)
    return Converted(recipe, variant.path, variant.manifest)


def convert_base(
    source: Path, folder: Path, calibration: Path | None, on_stage: Stage, **options: Any
) -> dict[str, Converted]:
    """float32, dynamic, float16 and (with calibration) int8 in one conversion: TensorFlow starts once for all."""
    modes = ["float32", "dynamic", "float16", *(["int8"] if calibration else [])]
    stem = source.stem or source.name
    result = convert(source, folder / f"{stem}.tflite", modes, calibration=calibration, on_stage=on_stage, **options)
    return {mode: Converted(Recipe(mode, mode), result.variant(mode).path, result.variant(mode).manifest)
            for mode in modes}  # fmt: skip
