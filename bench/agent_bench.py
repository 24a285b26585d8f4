"""edgedq bench --device local vs ai-edge-litert's official benchmark, and the agent's own footprint."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import edgedq_agent
import numpy as np
from rich.table import Table

from edgedq.device.bundle import build_agent
from edgedq.device.inventory import get_device
from edgedq.device.local import LocalConnection
from edgedq.measure.bench import BenchOptions, bench

ROUNDS = 9  # rounds of (edgedq, official, bare loop), the order rotating, so that drift hits all alike
WARMUP = 5  # benchmark_litert_model's own default
TARGET_SECONDS = 1.0  # counted runs per measurement: about 1 s, so a tiny model is not judged on 5 ms
MIN_RUNS, MAX_RUNS = 50, 20000
OFFICIAL_RESOLUTION_MS = 0.01  # benchmark_litert_model rounds every figure it reports to 0.01 ms


def official_median(python: str, model: Path, threads: int, runs: int) -> float:
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        subprocess.run(
            [
                python,
                "-m",
                "ai_edge_litert.tools.benchmark_litert_model",
                "--model",
                str(model),
                "--num_threads",
                str(threads),
                "--num_runs",
                str(runs),
                "--warmup_runs",
                str(WARMUP),
                "--result_json",
                result.name,
            ],
            check=True,
            capture_output=True,
        )
        return float(json.loads(Path(result.name).read_text())["latency"]["median_ms"])


def interpreter_median(python: str, model: Path, threads: int, runs: int) -> float:
    loop = Path(__file__).with_name("interpreter_loop.py")
    command = [python, str(loop), str(model), str(threads), str(runs), str(WARMUP)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def edgedq_median(python: str, model: Path, threads: int, runs: int) -> float:
    options = BenchOptions(threads=[threads], runs=runs, warmup=WARMUP)
    results = bench([model], get_device("local"), options, connection=LocalConnection(python)).results
    if not results[0].ok:
        raise RuntimeError(results[0].error)
    return results[0].latency_ms.p50


def _spread(medians: list[float]) -> str:
    """How far one process's median strays from another's on this machine: the noise floor of any ratio here."""
    low, high = np.percentile(medians, [25, 75])
    return f"±{(high - low) / 2 / np.median(medians):.1%}"


def versus_official(models: dict[str, Path]) -> Table:
    """Paired rounds, rotating which tool goes first; judged on the median of the per-round ratios.

    A bare Interpreter loop runs in the same rounds: edgedq against it shows edgedq's own overhead,
    the official tool against it shows how the CompiledModel API differs from the Interpreter.
    """
    python = get_device("local").python or sys.executable
    table = Table(
        title=f"edgedq bench vs benchmark_litert_model: {ROUNDS} rounds, same runs and warm-up ({WARMUP}) for "
        f"all, runs sized to about {TARGET_SECONDS:.0f} s; ratios are medians of the per-round ratios",
        title_justify="left",
    )
    columns = ("model", "threads", "runs", "edgedq p50", "official median", "bare Interpreter p50")
    for column in (*columns, "edgedq / official", "target ±5%", "edgedq / bare", "bare's own spread"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for name, model in models.items():
        for threads in (1, 2):
            estimate = edgedq_median(python, model, threads, MIN_RUNS)
            runs = int(min(MAX_RUNS, max(MIN_RUNS, TARGET_SECONDS * 1e3 / estimate)))
            tools = [edgedq_median, official_median, interpreter_median]
            figures: dict = {tool: [] for tool in tools}
            for round_ in range(ROUNDS):
                for tool in tools[round_ % 3 :] + tools[: round_ % 3]:
                    figures[tool].append(tool(python, model, threads, runs))
            ours, theirs, bare = (figures[tool] for tool in tools)
            ratio = float(np.median([a / b for a, b in zip(ours, theirs, strict=True)]))
            overhead = float(np.median([a / b for a, b in zip(ours, bare, strict=True)]))
            # Within 5 %, or within the official figure's rounding when 5 % is finer than that (sub-ms models).
            official = float(np.median(theirs))
            tolerance = max(0.05, OFFICIAL_RESOLUTION_MS / 2 / official)
            verdict = "met" if abs(ratio - 1) <= tolerance else "NOT met"
            if verdict == "met" and abs(ratio - 1) > 0.05:
                verdict = "met (within the 0.01 ms rounding)"
            table.add_row(
                name,
                str(threads),
                str(runs),
                f"{np.median(ours):.3f} ms",
                f"{official:.3f} ms",
                f"{np.median(bare):.3f} ms",
                f"{ratio:.3f}",
                verdict,
                f"{overhead:.3f}",
                _spread(bare),
            )
    table.caption = (
        "the official tool reports medians rounded to 0.01 ms (for sub-millisecond models a 5 % target is finer "
        "than that; such rows are judged within half a rounding step), and it drives the CompiledModel API: "
        "where it differs from both edgedq and the bare Interpreter loop, the APIs differ, not the measurement"
    )
    return table


PROBE_REQUEST = json.dumps({"type": "probe", "id": "p", "protocol": edgedq_agent.PROTOCOL_VERSION}) + "\n"


def _child_footprint(command: list[str], requests: list[str]) -> tuple[float, float]:
    """Wall seconds to the last reply and peak RSS (MB) of one child, from a fresh helper so rusage covers it alone.

    The child's first line (the agent's hello) and one reply per request are awaited; a plain
    ``python -c`` prints nothing, so it is timed to its exit.
    """
    helper = (
        "import resource, subprocess, sys, time, json\n"
        "start = time.perf_counter()\n"
        f"proc = subprocess.Popen({command!r}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,\n"
        "                        stderr=subprocess.DEVNULL)\n"
        "last = proc.stdout.readline()\n"
        f"for request in {requests!r}:\n"
        "    proc.stdin.write(request.encode()); proc.stdin.flush(); last = proc.stdout.readline()\n"
        "ready = time.perf_counter() - start\n"
        "proc.stdin.close(); proc.wait()\n"
        "if not last: ready = time.perf_counter() - start\n"
        "print(json.dumps([ready, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))\n"
    )
    out = subprocess.run([sys.executable, "-c", helper], check=True, capture_output=True, text=True).stdout
    ready, peak = json.loads(out)
    return ready, peak


def footprint() -> Table:
    """The agent against the bare imports it cannot do without, in both states: runtime named, runtime loaded."""
    python = get_device("local").python or sys.executable
    agent = str(build_agent().path)
    bare = 'python -c "import numpy, ai_edge_litert"'
    bare_loaded = 'python -c "import numpy, ai_edge_litert.interpreter"'
    rows = [  # (process, command, requests, the bare import it is judged against)
        ("agent: start to hello (runtime named)", [python, agent], [], bare),
        ("agent: hello + probe (runtime loaded, a model run)", [python, agent], [PROBE_REQUEST], bare_loaded),
        (bare, [python, "-c", "import numpy, ai_edge_litert"], [], None),
        (bare_loaded, [python, "-c", "import numpy, ai_edge_litert.interpreter"], [], None),
    ]
    medians = {}
    for name, command, requests, _ in rows:
        figures = [_child_footprint(command, requests) for _ in range(5)]
        medians[name] = (float(np.median([f[0] for f in figures])), float(np.median([f[1] for f in figures])))
    table = Table(title="agent start-to-ready and peak RSS (median of 5, fresh processes)", title_justify="left")
    for column in ("process", "ready ms", "peak RSS MB", "RSS vs its bare import", "target ≤1.2x"):
        table.add_column(column, justify="left" if column == "process" else "right")
    for name, _, _, judged_against in rows:
        ready, rss = medians[name]
        ratio = rss / medians[judged_against][1] if judged_against else None
        table.add_row(
            name,
            f"{ready * 1e3:.0f}",
            f"{rss:.1f}",
            f"{ratio:.2f}x" if ratio else "",
            ("met" if ratio <= 1.2 else "NOT met") if ratio else "",
        )
    return table
