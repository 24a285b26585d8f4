"""Host-side files: where edgedq keeps things, atomic writes, and content hashes.

Every layer uses these (conversion caches, uploads name files by hash, results
are saved atomically), so they sit at the bottom with ``errors``.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path

from edgedq.errors import OutputError

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once, at import: os.umask can only be read by setting it


def edgedq_home() -> Path:
    """Where edgedq keeps saved results and converted models (``EDGEDQ_HOME`` overrides)."""
    if os.environ.get("EDGEDQ_HOME"):
        return Path(os.environ["EDGEDQ_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgedq"


def cache_dir(kind: str) -> Path:
    """A cache folder: below ``EDGEDQ_CACHE`` when set (tests share one across private homes), else the home."""
    root = Path(os.environ["EDGEDQ_CACHE"]).expanduser() if os.environ.get("EDGEDQ_CACHE") else edgedq_home()
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_writable_dir(path: Path) -> None:
    """Fail early, before any slow work, when an output could not be written."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist", hint=f"mkdir -p {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is read-only", hint="choose another output path")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: never a half-written output."""
    check_writable_dir(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), 0o666 & ~_UMASK)  # as any new file, not mkstemp's private 0600
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
        raise OutputError(f"cannot write {path}: {reason}") from exc


def atomic_write_json(path: Path, data: object) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


def sha256_file(path: Path) -> str:
    """Hashed once per version of a file (inode, size, mtime): bench names a model by it, then its upload offers it.

    Only a same-size rewrite in place within one file-timestamp tick, in the same process, could see the
    old hash; an upload then fails safe (the board checks the bytes against the hash and refuses them).
    """
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=512)
def _sha256_of(path: str, inode: int, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
