"""edgedq: quantized TensorFlow models on ARM boards, converted and measured there.

The Python API, loaded on first use (so ``edgedq --help`` or ``edgedq devices list``
import neither TensorFlow nor numpy)::

    import edgedq
    result = edgedq.convert("model.keras", "model.tflite", modes=["float32", "dynamic"])
    report = edgedq.bench([v.path for v in result.variants], device="local")

Each function returns a dataclass with ``as_dict()``; see the README's "Python API".
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

# name -> "module:attribute", imported when first asked for
_API = {
    "convert": "edgedq.conversion.pipeline:convert",
    "ConversionResult": "edgedq.conversion.pipeline:ConversionResult",
    "MODES": "edgedq.conversion:MODES",
    "DynamicRangeRecipe": "edgedq.conversion.dynamic_range:DynamicRangeRecipe",
    "inspect_model": "edgedq.tflite.inspection:inspect_model",
    "ModelReport": "edgedq.tflite.inspection:ModelReport",
    "compare": "edgedq.tflite.compare:compare",
    "Comparison": "edgedq.tflite.compare:Comparison",
    "bench": "edgedq.measure.bench:bench",
    "BenchOptions": "edgedq.measure.bench:BenchOptions",
    "BenchReport": "edgedq.measure.bench:BenchReport",
    "profile": "edgedq.measure.profile:profile",
    "ProfileOptions": "edgedq.measure.profile:ProfileOptions",
    "ProfileReport": "edgedq.measure.profile:ProfileReport",
    "deploy": "edgedq.measure.deploy:deploy",
    "DeployReport": "edgedq.measure.deploy:DeployReport",
    "evaluate": "edgedq.measure.evaluate:evaluate",
    "EvalReport": "edgedq.measure.evaluate:EvalReport",
    "tune": "edgedq.tune.run:tune",
    "TuneOptions": "edgedq.tune.run:TuneOptions",
    "TuneReport": "edgedq.tune.result:TuneReport",
    "live_speech": "edgedq.demos.live.run:live_speech",
    "live_vision": "edgedq.demos.live.run:live_vision",
    "Device": "edgedq.device.inventory:Device",
    "EdgedqError": "edgedq.errors:EdgedqError",
    "ExitCode": "edgedq.errors:ExitCode",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'edgedq' has no attribute {name!r}")
    module, _, attribute = _API[name].partition(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
