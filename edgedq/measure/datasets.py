"""Labelled data for ``edgedq eval``, made ready for a board: ``x.npy`` + ``y.npy`` the agent memory-maps.

Accepted:

- an ``.npz`` with inputs ``x`` (first axis = samples, already preprocessed for the model) and integer labels
  ``y``; optional ``classes`` (names, in label order);
- a folder whose subfolders are the classes (sorted by name = label order) holding images
  (``.png .jpg .jpeg .bmp .gif .pgm``: converted to the model's channels (grey or RGB), resized to its height x
  width with bilinear filtering, scaled to [0, 1]) or ``.wav`` files (16-bit PCM mono at 16 kHz, cut or
  zero-padded to 1 s, scaled to [-1, 1]; the board turns them into log-mel features with the agent's front end:
  30 ms windows every 20 ms (49 frames), as many mel bands as the model input's third dimension).

Prepared arrays are cached by content, so the same data is converted and pushed once.
"""

from __future__ import annotations

import hashlib
import io
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from edgedq_agent import inputs as agent_inputs

from edgedq import files
from edgedq.errors import BadInput

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm"}
SAMPLE_RATE = 16000


@dataclass
class Dataset:
    x: Path
    y: Path
    classes: list[str]
    count: int
    source: str
    frontend: dict[str, Any] | None = None
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)


def save_dataset(arrays: dict[str, np.ndarray], classes: list[str], source: str, frontend: dict | None) -> Dataset:
    """Write x.npy / y.npy under the cache, named by their content."""
    digest = hashlib.sha256()
    for key in ("x", "y"):
        digest.update(key.encode() + str(arrays[key].dtype).encode() + str(arrays[key].shape).encode())
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    folder = files.cache_dir("datasets") / digest.hexdigest()[:24]
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key in ("x", "y"):
        paths[key] = folder / f"{key}.npy"
        if not paths[key].is_file():
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            files.atomic_write_bytes(paths[key], buffer.getvalue())
    labels = arrays["y"]
    return Dataset(paths["x"], paths["y"], classes, len(labels), source, frontend, labels)


def _from_npz(path: Path) -> Dataset:
    try:
        arrays = agent_inputs.read_npz(str(path))
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    if "x" not in arrays or "y" not in arrays:
        raise BadInput(f"{path}: needs arrays 'x' (inputs) and 'y' (integer labels); it has {sorted(arrays)}")
    x, y = arrays["x"], arrays["y"]
    if y.ndim != 1 or y.dtype.kind not in "iu" or len(x) != len(y):
        raise BadInput(f"{path}: 'y' must be one integer label per sample of 'x' ({len(x)} samples)")
    if x.dtype.kind == "f":
        x = x.astype(np.float32)
    count = int(y.max()) + 1 if len(y) else 0
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else [str(i) for i in range(count)]
    return save_dataset({"x": x, "y": y.astype(np.int64)}, classes, str(path), None)


def _image(path: Path, height: int, width: int, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
            array = np.asarray(image, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as exc:
        raise BadInput(f"{path}: not a readable image ({exc})") from None
    return array.reshape(height, width, channels)


def read_wav(path: Path) -> np.ndarray:
    """One second of 16 kHz mono 16-bit PCM as float32 in [-1, 1] (cut or zero-padded)."""
    try:
        with wave.open(str(path), "rb") as handle:
            if handle.getframerate() != SAMPLE_RATE or handle.getnchannels() != 1 or handle.getsampwidth() != 2:
                raise BadInput(
                    f"{path}: need 16 kHz mono 16-bit PCM, got {handle.getframerate()} Hz, "
                    f"{handle.getnchannels()} channels, {8 * handle.getsampwidth()}-bit",
                    hint="convert it, e.g. sox IN.wav -r 16000 -c 1 -b 16 OUT.wav",
                )
            pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    except (wave.Error, EOFError) as exc:
        raise BadInput(f"{path}: not a readable .wav ({exc})") from None
    clip = np.zeros(SAMPLE_RATE, dtype=np.float32)
    clip[: min(len(pcm), SAMPLE_RATE)] = pcm[:SAMPLE_RATE].astype(np.float32) / 32768.0
    return clip


def _from_folder(folder: Path, input_shape: list[int], classes: list[str] | None = None) -> Dataset:
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise BadInput(f"{folder}: no class subfolders", hint="one subfolder per class, named by the class")
    classes = classes or found  # label order: as given, else the subfolders' names sorted
    strangers = [name for name in found if name not in classes]
    if strangers:
        raise BadInput(
            f"{folder}: subfolders {strangers} are not among the classes {classes}",
            hint="name every subfolder after one of --classes, or leave --classes out",
        )
    files = [(f, label) for label, name in enumerate(classes) if name in found
             for f in sorted((folder / name).iterdir()) if f.is_file()]  # fmt: skip
    kinds = {"wav" if f.suffix.lower() == ".wav" else "image" if f.suffix.lower() in IMAGE_SUFFIXES else "other"
             for f, _ in files}  # fmt: skip
    if not files or "other" in kinds or len(kinds) != 1:
        raise BadInput(
            f"{folder}: every file must be an image ({', '.join(sorted(IMAGE_SUFFIXES))}) or every one a .wav",
            hint="one subfolder per class, named by the class; see edgedq eval --help",
        )
    labels = np.array([label for _, label in files], dtype=np.int64)
    if kinds == {"wav"}:
        x = np.stack([read_wav(f) for f, _ in files])
        mels = input_shape[2] if len(input_shape) >= 3 else 40  # as many bands as the model's input has columns
        return save_dataset({"x": x, "y": labels}, classes, str(folder), {"kind": "logmel", "params": {"mels": mels}})
    if len(input_shape) != 4 or min(input_shape[1:]) < 1:
        shown = [d if d >= 0 else None for d in input_shape]
        raise BadInput(
            f"images need a model input of shape [1, height, width, channels], not {shown}",
            hint="give the size to resize them to: --input-shape NAME:1,HEIGHT,WIDTH,CHANNELS",
        )
    _, height, width, channels = input_shape
    x = np.stack([_image(f, height, width, channels) for f, _ in files])
    return save_dataset({"x": x, "y": labels}, classes, str(folder), None)


def load_dataset(data: Path, input_shape: list[int], classes: list[str] | None = None) -> Dataset:
    """``data`` for a model whose input has ``input_shape``; ``classes`` names the labels (and orders a folder's)."""
    data = Path(data).expanduser()
    if data.is_dir():
        return _from_folder(data, input_shape, classes)
    if data.is_file() and data.suffix == ".npz":
        dataset = _from_npz(data)
        if classes:
            if len(classes) < len(dataset.classes):
                raise BadInput(f"--classes names {len(classes)} classes; the labels go up to {len(dataset.classes)}")
            dataset.classes = classes
        return dataset
    if not data.exists():
        raise BadInput(f"{data}: no such file or folder")
    raise BadInput(f"{data}: give an .npz (x, y) or a folder with one subfolder per class")
