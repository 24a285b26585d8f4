"""Build the board agent into one self-contained zipapp, byte-for-byte reproducible.

Fixed timestamps and order mean the same sources give the same sha256, so a
board that already holds this agent is not sent it again.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import edgedq_agent

from edgedq import files

_EPOCH = (2020, 1, 1, 0, 0, 0)
_MAIN = b"from edgedq_agent.__main__ import main\nimport sys\nsys.exit(main())\n"


@dataclass(frozen=True)
class AgentBundle:
    path: Path
    sha256: str
    version: str
    protocol: int


def _archive() -> bytes:
    package = Path(edgedq_agent.__file__).parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entries = [("__main__.py", _MAIN)]
        for source in sorted([*package.glob("*.py"), *package.glob("*.tflite")]):
            entries.append((f"edgedq_agent/{source.name}", source.read_bytes()))
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return b"#!/usr/bin/env python3\n" + buffer.getvalue()


def build_agent() -> AgentBundle:
    data = _archive()
    digest = hashlib.sha256(data).hexdigest()
    path = files.cache_dir("agent") / f"edgedq-agent-{digest[:16]}.pyz"
    if not path.is_file():
        files.atomic_write_bytes(path, data)
    return AgentBundle(path, digest, edgedq_agent.AGENT_VERSION, edgedq_agent.PROTOCOL_VERSION)
