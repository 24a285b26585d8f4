"""Tables of the live demos' summaries, and the one line each of the board's events becomes while it streams."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from edgedq.cli.render import DataTable


def _ms(stats: dict[str, float] | None) -> str:
    return "-" if not stats else " / ".join(f"{stats[k]:.2f}" for k in ("p50", "p90", "p99"))


def _temperature(state: dict[str, Any] | None) -> str:
    value = (state or {}).get("temperature_c")
    return "not readable" if value is None else f"{value:.1f} C"


def _title(report: Any, what: str) -> Text:
    title = Text(f"edgedq demo {what} --live on {report.device}: {report.source}, {report.mode}")
    if report.emulated:
        title.append(" (emulated: latency and rates are meaningless)", style="yellow")
    if report.interrupted:
        title.append(" (interrupted: the summary so far)", style="yellow")
    return title


def speech_table(report: Any) -> Table:
    table = DataTable(title=_title(report, "speech"))
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("audio streamed", f"{report.seconds:.1f} s ({report.windows} windows)"),
        ("real-time factor", "-" if report.real_time_factor is None else f"{report.real_time_factor:.4f}"),
        ("window latency p50 / p90 / p99", f"{_ms(report.window_latency_ms)} ms"),
        ("detections", str(len(report.detections))),
        ("agent CPU (of one core)", "-" if report.cpu_percent is None else f"{report.cpu_percent:.1f} %"),
        ("agent peak memory", "-" if report.memory_mb is None else f"{report.memory_mb:.1f} MB"),
        ("temperature start / end", f"{_temperature(report.thermal['start'])} / {_temperature(report.thermal['end'])}"),
    ]
    score = report.score
    if score:
        rows.append(("keywords found", f"{score['hits']} of {score['hits'] + score['misses']}"))
        per_hour = score["false_alarms_per_hour"]
        rows.append(("false alarms", f"{score['false_alarms']} ({per_hour or 0:.1f} per hour)"))
        latency = score["detection_latency_ms"]
        if latency:
            rows.append(("detection latency p50 / p90 / max",
                         f"{latency['p50']:.0f} / {latency['p90']:.0f} / {latency['max']:.0f} ms"))  # fmt: skip
    for name, value in rows:
        table.add_row(name, value)
    return table


def vision_table(report: Any) -> Table:
    table = DataTable(title=_title(report, "vision"))
    for column in ("phase", "seconds", "frames", "fps", "latency p50 / p90 / p99 ms"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for name, phase in (("burst (first 10 s)", report.burst), ("sustained", report.sustained)):
        if phase:
            fps = "-" if phase["fps"] is None else f"{phase['fps']:.1f}"
            table.add_row(name, f"{phase['seconds']:.1f}", str(phase["frames"]), fps, _ms(phase["latency_ms"]))
    return table


def vision_lines(report: Any) -> list[str]:
    """What the table leaves out: drops, detections, heat over time, the test stream's score."""
    lines = [
        f"asked {report.fps_asked:g} fps: {report.processed_frames} frames processed, {report.dropped_frames} dropped",
        f"{len(report.detections)} frames with a {'face' if report.task == 'face' else 'digit read'}",
        f"temperature: {_temperature(report.thermal['start'])} at the start, {_temperature(report.thermal['end'])} at "
        f"the end, {len(report.thermal['over_time'])} readings between",
    ]
    score = report.score or {}
    if "face_frames" in score:
        lines.append(f"test stream: faces scored > 0.9 in {score['faces_found']} of {score['face_frames']} face frames;"
                     f" {score['false_faces']} of {score['no_face_frames']} other frames scored >= 0.5")  # fmt: skip
    elif "digit_frames" in score:
        lines.append(f"test stream: {score['read_right']} of {score['digit_frames']} digit cards read right")
    return lines


def event_line(which: str, event: dict[str, Any]) -> str | None:
    """A detection as it happens (printed); None for what only updates the status line."""
    if which == "speech" and event.get("kind") == "detection":
        return f"{event['time_s']:9.2f} s  {event['keyword']:<6} {event['score']:.2f}"
    return None


def status_text(which: str, event: dict[str, Any], state: dict[str, Any]) -> str | None:
    """The status line after a tick: how far, how fast, the last detection."""
    if event.get("kind") != "tick":
        return None
    if which == "speech":
        rtf = event["processing_s"] / event["stream_s"] if event["stream_s"] else 0.0
        found = state.get("detections", 0)
        return f"speech: {event['stream_s']:.1f} s heard, real-time factor {rtf:.4f}, {found} detections"
    state["frames"] = state.get("frames", 0) + len(event["frame"])
    last = event.get("last")
    seen = f", last face/digit at frame {last['frame']} ({last['score']:.2f})" if last else ""
    return f"vision: {state['frames']} frames, {event['dropped']} dropped{seen}"
