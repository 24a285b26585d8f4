"""TensorFlow model sources: recognise them, fingerprint them, load them.

Recognising and hashing a source needs no TensorFlow, so a cached conversion
never pays TensorFlow's import time.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from edgedq.errors import BadInput
from edgedq.files import sha256_file

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class SourceKind(str, Enum):
    SAVED_MODEL = "saved_model"
    KERAS = "keras"
    H5 = "h5"


@dataclass(frozen=True)
class ModelSource:
    path: Path
    kind: SourceKind
    sha256: str


def _sha256_tree(root: Path) -> str:
    """Hash of every file's relative path and content, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def open_source(path: str | Path) -> ModelSource:
    """Identify a SavedModel folder, ``.keras`` or ``.h5`` file, checking it is what it claims."""
    source = Path(path).expanduser()
    if not source.exists():
        raise BadInput(f"{source}: no such file or folder", hint="give a SavedModel folder, a .keras or an .h5 file")
    if source.is_dir():
        if not any((source / name).is_file() for name in ("saved_model.pb", "saved_model.pbtxt")):
            raise BadInput(
                f"{source} is a folder but not a SavedModel (no saved_model.pb)",
                hint="export it with tf.saved_model.save(model, folder) or model.export(folder)",
            )
        return ModelSource(source, SourceKind.SAVED_MODEL, _sha256_tree(source))
    suffix = source.suffix.lower()
    if suffix == ".keras":
        try:
            with zipfile.ZipFile(source) as archive:
                names = set(archive.namelist())
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError) as exc:
            raise BadInput(f"{source} is corrupt or truncated: not a .keras archive ({exc})") from exc
        if bad is not None or "config.json" not in names:
            raise BadInput(f"{source} is corrupt or truncated: the .keras archive is incomplete")
        return ModelSource(source, SourceKind.KERAS, sha256_file(source))
    if suffix in (".h5", ".hdf5"):
        with source.open("rb") as handle:
            if handle.read(8) != _HDF5_SIGNATURE:
                raise BadInput(f"{source} is corrupt: not an HDF5 file")
        return ModelSource(source, SourceKind.H5, sha256_file(source))
    if suffix == ".tflite":
        raise BadInput(f"{source} is already a TFLite model", hint="convert takes the TensorFlow source it came from")
    raise BadInput(f"{source}: unknown model format '{suffix}'", hint="use a SavedModel folder, .keras or .h5")


def make_converter(source: ModelSource, batch: int | None = 1, custom_objects: tuple[str, ...] = ()) -> Any:
    """A ``tf.lite.TFLiteConverter`` for the source at a fixed batch (imports TensorFlow)."""
    from edgedq.conversion.tf_driver import prepare

    return prepare(source, batch, custom_objects).converter
