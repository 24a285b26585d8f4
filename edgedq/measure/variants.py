"""Which measured models are variants of one source, so a speedup is only ever taken against its own float32.

Converted variants are named ``<stem>.<mode>.tflite`` side by side (``convert``, ``prepare_models``); ``tune``'s
candidates with layers kept in float are ``<stem>.<mode>-keep<k>.tflite``, variants of the same source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

_VARIANT = re.compile(r"^(?P<stem>.+)\.(?P<mode>float32|dynamic|float16|int8)(?:-keep\d+)?\.tflite$")


def variant_mode(path: str) -> str | None:
    match = _VARIANT.match(Path(path).name)
    return match["mode"] if match else None


def family(path: str) -> tuple[Path, str] | None:
    """(folder, source stem) of a converted variant; None for any other file."""
    match = _VARIANT.match(Path(path).name)
    return (Path(path).parent, match["stem"]) if match else None


def speedups(entries: Sequence[tuple[str, int, bool, float | None]]) -> dict[int, float]:
    """For (model path, threads, xnnpack, p50) entries: index -> speedup against the float32 variant of the same
    source at the same threads and XNNPACK setting (absent where there is none)."""
    baselines = {
        (family(path), threads, xnnpack): p50
        for path, threads, xnnpack, p50 in entries
        if p50 and variant_mode(path) == "float32"
    }
    found = {}
    for index, (path, threads, xnnpack, p50) in enumerate(entries):
        base = baselines.get((family(path), threads, xnnpack)) if family(path) else None
        if base and p50:
            found[index] = base / p50
    return found
