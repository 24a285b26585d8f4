"""Which class of XNNPACK int8 kernels a board's CPU features select, said in plain words.

XNNPACK picks its int8 kernels at run time from the CPU's features: on ARM, i8mm
first, else the dot product (NEONDOT), else NEON multiply-accumulate (MLAL), which
is barely faster than float; on x86, VNNI, else AVX2, else SSE. So the features
in a board's hello already say how much int8 can gain there, before anything runs.
"""

from __future__ import annotations

from typing import Any

ARM = {"aarch64", "arm64", "armv8l", "armv7l"}
X86 = {"x86_64", "amd64"}

# (arches, any of these features, kind, what it means), first match wins: XNNPACK's own order of preference.
RULES = (
    (ARM, {"i8mm"}, "i8mm", "int8 matrix multiply (i8mm): XNNPACK's fastest int8 kernels"),
    (ARM, {"asimddp"}, "neondot", "dot product (asimddp): NEONDOT int8 kernels; int8 should run well ahead of float"),
    (ARM, {"asimd", "neon"}, "neon", "no dot product: NEON MLAL int8 kernels; int8 gains will be small"),
    (ARM, set(), "scalar", "no NEON: scalar int8 kernels; int8 will not beat float"),
    (X86, {"avx512_vnni", "avx_vnni"}, "vnni", "int8 dot product (VNNI): VNNI int8 kernels; int8 should beat float"),
    (X86, {"avx2"}, "avx2", "AVX2, no int8 dot product: int8 may be no faster than float"),
    (X86, set(), "sse", "SSE only: int8 gains will be small"),
)


def int8_kernels(facts: dict[str, Any]) -> dict[str, str]:
    """The kernel class (``kind``) and its meaning (``summary``) for a board's hello facts."""
    arch, features = str(facts.get("arch") or ""), set(facts.get("cpu_features") or [])
    for arches, wanted, kind, summary in RULES:
        if arch in arches and (not wanted or wanted & features):
            return {"kind": kind, "summary": summary}
    return {"kind": "unknown", "summary": f"unknown architecture {arch or '?'}: cannot tell XNNPACK's int8 kernels"}
