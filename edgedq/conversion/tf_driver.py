"""Driving TensorFlow's TFLite converter for each mode.

Only this module (and ``sources.make_converter``) touches TensorFlow, and it is
imported lazily, so commands that need no conversion start fast.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from edgedq_agent import inputs as agent_inputs

from edgedq.errors import BadInput, ConversionFailed
from edgedq.files import sha256_file

MAX_CALIBRATION_SAMPLES = 500


@dataclass(frozen=True)
class Calibration:
    """Representative inputs for full-int8 calibration, read from an ``.npz``."""

    path: Path
    sha256: str
    arrays: dict[str, np.ndarray]

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        path = Path(path).expanduser()
        if not path.is_file():
            raise BadInput(f"calibration data {path}: no such file")
        try:
            arrays = agent_inputs.read_npz(str(path))
        except ValueError as exc:
            raise BadInput(f"calibration data {exc}") from exc
        return cls(path, sha256_file(path), arrays)

    def examples(self, input_details: Sequence[dict]) -> list[list[np.ndarray]]:
        """Samples in the model's input order, each with batch dimension 1; checked against the model."""
        try:
            matched = agent_inputs.fit_arrays(input_details, self.arrays)
        except ValueError as exc:
            raise BadInput(f"calibration data {self.path} does not fit the model: {exc}") from exc
        count = min(MAX_CALIBRATION_SAMPLES, *(len(array) for array in matched.values()))
        return [
            [matched[d["name"]][i : i + 1].astype(np.dtype(d["dtype"])) for d in input_details] for i in range(count)
        ]


def run_converter(converter: Any, mode: str, calibration_examples: list[list[np.ndarray]] | None = None) -> bytes:
    """Configure one converter for ``mode`` and convert; unsupported ops are named in the error."""
    import tensorflow as tf

    converter.optimizations = []
    converter.target_spec.supported_types = []
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.representative_dataset = None
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        assert calibration_examples is not None
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.representative_dataset = lambda: _dataset(calibration_examples)
    elif mode == "tf-default":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        return bytes(converter.convert())
    except Exception as exc:
        raise conversion_error(exc, mode) from exc


def _dataset(examples: list[list[np.ndarray]]) -> Iterator[list[np.ndarray]]:
    yield from examples


def conversion_error(exc: BaseException, mode: str) -> ConversionFailed:
    text = str(exc)
    ops = sorted(set(re.findall(r"\btf\.([A-Z][A-Za-z0-9_]*)", text)))
    if ops:
        return ConversionFailed(
            f"TensorFlow cannot convert these ops to TFLite builtins ({mode}): {', '.join(ops)}",
            hint="replace them in the model, or keep them out of the exported function",
        )
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in lines if "error" in line.lower()), lines[0] if lines else type(exc).__name__)
    return ConversionFailed(f"TensorFlow could not convert the model ({mode}): {detail[:300]}", hint="run with -v")
