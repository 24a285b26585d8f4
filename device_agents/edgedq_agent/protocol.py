"""JSON lines on stdin/stdout.  Every message carries ``type``; the first is ``hello``.

host -> agent: {"type": "bench", "id": ..., ...} (one request per line); EOF ends the agent.
agent -> host: hello, progress, result, error.  Logs go to stderr only.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from edgedq_agent import PROTOCOL_VERSION

_OUT = sys.stdout
current_request: Any = None  # the id of the request being served: progress names it


def emit(message_type: str, /, **fields: Any) -> None:
    fields["type"] = message_type
    fields.setdefault("protocol", PROTOCOL_VERSION)
    if message_type in ("progress", "event"):  # an event's own ``kind`` is a field
        fields.setdefault("id", current_request)
    # NaN and Infinity are not JSON: the host refuses them, so they never leave the board
    _OUT.write(json.dumps(fields, separators=(",", ":"), default=_plain, allow_nan=False) + "\n")
    _OUT.flush()


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError("not JSON serialisable: %r" % type(value))


def log(message: str) -> None:
    sys.stderr.write("edgedq-agent: %s\n" % message)
    sys.stderr.flush()


def finite_list(array: Any) -> list:
    """Values as a flat list, a non-finite one as null (a model may really output NaN)."""
    return [value if math.isfinite(value) else None for value in array.reshape(-1).tolist()]
