"""edgedq: quantized TensorFlow models on ARM boards, converted and measured there."""

from __future__ import annotations

__version__ = "0.1.0"

from edgedq.compare import Comparison, compare  # noqa: E402
from edgedq.convert import MODES, ConversionResult, convert  # noqa: E402
from edgedq.dynamic_range import DynamicRangeRecipe  # noqa: E402
from edgedq.inspect import inspect_model  # noqa: E402

__all__ = [
    "MODES",
    "Comparison",
    "ConversionResult",
    "DynamicRangeRecipe",
    "compare",
    "convert",
    "inspect_model",
]
