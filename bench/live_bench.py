"""The live demos on local, float32 against dynamic: the speech stream's real-time factor, the vision loop's
sustained frame rate.

Speech: the built 2.5-minute test stream at --speed 30 (the spotter keeps up many times over, so the real-time
factor, processing time / audio time, is the board's work alone), each mode ROUNDS times, order alternating.
Vision: BlazeFace and the digits model on the test stream, asked more frames a second than they can take for
SECONDS s, so the loop never waits for a frame and its sustained rate (after the first 10 s) is what it can do.
"""

from __future__ import annotations

import numpy as np
from rich.table import Table

from edgedq.demos.live.run import live_speech, live_vision

ROUNDS = 3
SECONDS = 16.0  # 10 s of burst, 6 s sustained
# frames a second asked of the file: more than the loop can do (it then always has a frame waiting), not so many
# that reading them costs the loop much
SATURATE = {"face": 200.0, "digits": 800.0}
MODES = ("float32", "dynamic")


def _median(values: list[float]) -> str:
    return f"{float(np.median(values)):.4g}"


def live_versus_modes() -> Table:
    table = Table(title="live demos on local, float32 vs dynamic (medians of the rounds)", title_justify="left")
    for column in ("loop", "mode", "rounds", "real-time factor", "sustained fps", "latency p50 ms", "found"):
        table.add_column(column, justify="left" if column in ("loop", "mode") else "right")
    speech: dict[str, list] = {mode: [] for mode in MODES}
    for round_ in range(ROUNDS):
        for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
            speech[mode].append(live_speech("local", mode=mode, speed=30.0))
    for mode, reports in speech.items():
        found = f"{reports[0].score['hits']}/{reports[0].score['hits'] + reports[0].score['misses']}"
        table.add_row("speech (test stream)", mode, str(len(reports)),
                      _median([r.real_time_factor for r in reports]), "-",
                      _median([r.window_latency_ms["p50"] for r in reports]), found)  # fmt: skip
    for model in ("face", "digits"):
        vision: dict[str, list] = {mode: [] for mode in MODES}
        for round_ in range(ROUNDS):
            for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
                vision[mode].append(live_vision("local", mode=mode, model=model, fps=SATURATE[model], seconds=SECONDS))
        for mode, reports in vision.items():
            table.add_row(f"vision ({'BlazeFace' if model == 'face' else 'digits'})", mode, str(len(reports)), "-",
                          _median([r.sustained["fps"] for r in reports]),
                          _median([r.sustained["latency_ms"]["p50"] for r in reports]), "-")  # fmt: skip
    return table
