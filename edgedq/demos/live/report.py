"""Summaries of a live run, from the board's raw events (so an interrupted run is summarised the same way).

Speech: the real-time factor, per-window latency percentiles, detections, the agent's CPU and memory, the
temperature at the start and end; for a labelled stream, hits, misses and false alarms.  Vision: throughput
and latency of the first ``BURST_S`` seconds (a cool board) apart from the rest (sustained, warm), dropped
frames, detections, and the thermal state over time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgedq.demos.live.session import LiveRun
from edgedq.files import sha256_file

BURST_S = 10.0  # the "burst": a board's first seconds, before it warms up
TOLERANCE_S = 1.0  # a keyword is found when detected at most this long after it was said
EMULATED = "latency, the real-time factor and frame rates are meaningless there"


def percentiles(samples: list[float]) -> dict[str, float] | None:
    if not samples:
        return None
    p50, p90, p99 = np.percentile(np.asarray(samples, dtype=np.float64), (50, 90, 99))
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99)}


def score_keywords(detections: list[dict], marks: list[dict], seconds: float) -> dict[str, Any]:
    """Hits, misses and false alarms of ``detections`` against labelled keyword times.

    A keyword is hit by the first unused detection of the same word between its start and ``TOLERANCE_S``
    after its end; a keyword the stream stopped before it could be found is neither hit nor missed; every
    detection that hit nothing is a false alarm.  Detection latency runs from the end of the spoken keyword to
    the moment the board decided (the stream time of the decision plus the window's own latency); it is
    negative when the spotter fired before the word was over.
    """
    used: set[int] = set()
    latencies, misses = [], []
    for mark in sorted(marks, key=lambda m: m["start"]):
        found = next((i for i, d in enumerate(detections) if i not in used and d["keyword"] == mark["keyword"]
                      and mark["start"] <= d["time_s"] <= mark["end"] + TOLERANCE_S), None)  # fmt: skip
        if found is not None:
            used.add(found)
            hit = detections[found]
            latencies.append((hit["time_s"] - mark["end"]) * 1e3 + hit.get("latency_ms", 0.0))
        elif mark["end"] + TOLERANCE_S <= seconds:
            misses.append(mark)
    false_alarms = len(detections) - len(used)
    latency = {"p50": float(np.median(latencies)), "p90": float(np.percentile(latencies, 90)),
               "max": float(np.max(latencies))} if latencies else None  # fmt: skip
    return {
        "hits": len(used),
        "misses": len(misses),
        "false_alarms": false_alarms,
        "false_alarms_per_hour": false_alarms * 3600.0 / seconds if seconds > 0 else None,
        "detection_latency_ms": latency,
        "missed": [{"keyword": m["keyword"], "start": m["start"], "end": m["end"]} for m in misses],
    }


def _thermal(run: LiveRun, ticks: list[dict]) -> dict[str, Any]:
    """Start and end (the board's own readings), each reading taken during the run, and whether it throttled."""
    readings = [{"wall_s": round(t["wall_s"], 3), **t["thermal"]} for t in ticks if t.get("thermal")]
    totals = (run.result or {}).get("thermal") or {}
    start = totals.get("start") or run.facts.get("thermal")
    end = totals.get("end") or (readings[-1] if readings else None)
    seen = [r for r in [start, *readings, end] if r]
    throttled = sorted({flag for r in seen for flag in r.get("throttled_now") or []})
    since = [set(r.get("throttled_since_boot") or []) for r in seen]
    new = sorted(set.union(*since) - since[0]) if since else []
    return {"start": start, "end": end, "over_time": readings, "throttled": throttled, "throttled_during_run": new}


def _notes(run: LiveRun, thermal: dict[str, Any]) -> tuple[list[str], list[str]]:
    notes, warnings = [], []
    if run.emulated:
        notes.append(f"{run.device} is emulated ({run.emulated}): the stream ran at emulated speed; {EMULATED}")
    if run.interrupted:
        notes.append("interrupted (Ctrl-C): the stream was stopped on the board; this is the summary so far")
    if thermal["throttled"] or thermal["throttled_during_run"]:
        flags = ", ".join(thermal["throttled"] or thermal["throttled_during_run"])
        warnings.append(f"the board throttled during the run ({flags}): sustained figures are a throttled board's")
    error = (run.result or {}).get("source_error")
    if error:
        warnings.append(f"the source failed before the end: {error}")
    return notes, warnings


def event_log(run: LiveRun) -> list[dict[str, Any]]:
    """The events as received, each tick summarised (its raw per-window lists are in the figures)."""
    log = []
    for event in run.events:
        if event.get("kind") != "tick":
            log.append(event)
            continue
        entry = {k: v for k, v in event.items() if not isinstance(v, list)}
        entry["latency_p50_ms"] = float(np.median(event["latency_ms"])) if event["latency_ms"] else None
        log.append(entry)
    return log


@dataclass(kw_only=True)
class LiveReport:
    """What every live run reports: where and what ran, the board's state, and the raw figures for the store."""

    device: str
    model: str
    mode: str
    source: str
    seconds: float
    detections: list[dict[str, Any]]
    thermal: dict[str, Any]
    cpu_percent: float | None
    memory_mb: float | None
    score: dict[str, Any] | None
    interrupted: bool = False
    emulated: str | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    runtime: dict[str, str] | None = None
    model_sha256: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)
    latencies_ms: list[float] = field(default_factory=list, repr=False)  # every window's or frame's, for the store
    facts: dict[str, Any] = field(default_factory=dict, repr=False)  # the board's hello, for the store

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if key not in ("latencies_ms", "facts")}


def _shared(run: LiveRun, model: str, mode: str, source: str, seconds: float) -> dict[str, Any]:
    """The fields of ``LiveReport`` that speech and vision runs work out alike (all but detections and score)."""
    ticks, result = run.of_kind("tick"), run.result or {}
    peak = (result.get("memory_kb") or {}).get("peak_rss") or max((t.get("peak_rss_kb") or 0 for t in ticks), default=0)
    cpu = result.get("cpu_percent")
    if cpu is None and ticks:
        cpu = float(np.mean([t["cpu_percent"] for t in ticks]))
    thermal = _thermal(run, ticks)
    notes, warnings = _notes(run, thermal)
    return {
        "device": run.device,
        "model": model,
        "mode": mode,
        "source": source,
        "seconds": seconds,
        "thermal": thermal,
        "cpu_percent": cpu,
        "memory_mb": peak / 1024.0 if peak else None,
        "interrupted": run.interrupted,
        "emulated": run.emulated,
        "notes": notes,
        "warnings": warnings,
        "runtime": result.get("runtime") or run.facts.get("runtime"),
        "model_sha256": sha256_file(Path(model)),
        "events": event_log(run),
        "facts": run.facts,
    }


@dataclass(kw_only=True)
class SpeechLiveReport(LiveReport):
    real_time_factor: float | None
    window_latency_ms: dict[str, float] | None
    windows: int = 0


def speech_report(run: LiveRun, model: str, mode: str, source: str, labels: dict | None) -> SpeechLiveReport:
    ticks, result = run.of_kind("tick"), run.result or {}
    last = ticks[-1] if ticks else {}
    seconds = float(result.get("stream_s", last.get("stream_s", 0.0)))
    processing = float(result.get("processing_s", last.get("processing_s", 0.0)))
    latencies = [value for tick in ticks for value in tick["latency_ms"]]
    detections = [{"time_s": d["time_s"], "keyword": d["keyword"], "score": d["score"], "latency_ms": d["latency_ms"]}
                  for d in run.of_kind("detection")]  # fmt: skip
    score = score_keywords(detections, labels["keywords"], seconds) if labels and "keywords" in labels else None
    return SpeechLiveReport(
        **_shared(run, model, mode, source, seconds),
        real_time_factor=processing / seconds if seconds > 0 and latencies else None,
        window_latency_ms=percentiles(latencies),
        detections=detections,
        score=score,
        windows=len(latencies),
        latencies_ms=latencies,
    )


@dataclass(kw_only=True)
class VisionLiveReport(LiveReport):
    task: str
    fps_asked: float
    burst: dict[str, Any]
    sustained: dict[str, Any] | None
    dropped_frames: int
    processed_frames: int


def _phase(times: np.ndarray, latencies: np.ndarray, span: float) -> dict[str, Any]:
    return {"fps": float(len(times) / span) if span > 0 else None, "frames": int(len(times)),
            "seconds": span, "latency_ms": percentiles(latencies.tolist())}  # fmt: skip


def _frame_score(frames: list[dict], labels: dict, task: str, threshold: float) -> dict[str, Any]:
    """Against the test stream's labels: faces found (score > 0.9) and faces imagined (>= threshold)."""
    truth = labels["frames"]
    of = [(f, truth[f["frame"] % len(truth)]) for f in frames]
    if task == "digits":
        shown = [(f, t) for f, t in of if "digit" in t]
        right = sum(f["label"] == str(t["digit"]) for f, t in shown)
        return {"digit_frames": len(shown), "read_right": right}
    faces = [f for f, t in of if t["face"]]
    others = [f for f, t in of if not t["face"]]
    return {
        "face_frames": len(faces),
        "faces_found": sum(f["score"] > 0.9 for f in faces),
        "lowest_face_score": min((f["score"] for f in faces), default=None),
        "no_face_frames": len(others),
        "false_faces": sum(f["score"] >= threshold for f in others),
        "highest_other_score": max((f["score"] for f in others), default=None),
    }


def vision_report(
    run: LiveRun, model: str, mode: str, task: str, source: str, fps: float, threshold: float, labels: dict | None
) -> VisionLiveReport:
    ticks, result = run.of_kind("tick"), run.result or {}
    frames = [{"frame": f, "t_s": t, "latency_ms": ms, "score": s, "label": label}
              for tick in ticks
              for f, t, ms, s, label in zip(tick["frame"], tick["t_s"], tick["latency_ms"], tick["score"],
                                            tick["label"], strict=True)]  # fmt: skip
    times = np.array([f["t_s"] for f in frames], dtype=np.float64)
    latencies = np.array([f["latency_ms"] for f in frames], dtype=np.float64)
    seconds = float(result.get("stream_s", times.max(initial=0.0)))
    early = times < BURST_S
    burst = _phase(times[early], latencies[early], min(seconds, BURST_S))
    sustained = _phase(times[~early], latencies[~early], seconds - BURST_S) if seconds > BURST_S else None
    last = ticks[-1] if ticks else {}
    detections = [{"frame": f["frame"], "score": f["score"], **({"label": f["label"]} if f["label"] else {})}
                  for f in frames if f["score"] >= threshold]  # fmt: skip
    shared = _shared(run, model, mode, source, seconds)
    dropped = int(result.get("dropped", last.get("dropped", 0)))
    if dropped:
        shared["notes"].append(f"{dropped} frames dropped: the loop could not keep up with {fps:g} fps")
    return VisionLiveReport(
        **shared,
        task=task,
        fps_asked=fps,
        burst=burst,
        sustained=sustained,
        dropped_frames=dropped,
        processed_frames=len(frames),
        detections=detections,
        score=_frame_score(frames, labels, task, threshold) if labels and "frames" in labels else None,
        latencies_ms=latencies.tolist(),
    )
