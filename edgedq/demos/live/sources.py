"""``--source SPEC`` for the live demos: what the board reads, and which host files go to it first.

Speech: ``test`` (the built test stream, the default), ``mic`` or ``mic:ALSA_DEVICE`` (``arecord``),
``file:PATH`` (a 16 kHz mono 16-bit WAV, or raw S16_LE), ``cmd:COMMAND`` (16 kHz mono S16_LE on stdout).
Vision: ``test``, ``camera`` (``rpicam-vid``/``libcamera-vid``), ``v4l2:DEVICE`` (``ffmpeg``), ``file:PATH``
(``.npy`` frames, or raw YUV420), ``cmd:COMMAND`` (YUV420 frames on stdout).

A file is pushed to the board through the verified store (by content, hashed again before use), never read
from a host path there; a ``NAME.json`` beside it labels it (keyword times, or what each frame shows) and
may give a YUV file's size and rate.  A ``cmd:`` is split as a shell would (``shlex``) but run as an argv,
without a shell, in the agent's work folder on the board (the current folder for ``local``).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedq.errors import BadInput

SPEECH_KINDS = "test, mic[:DEVICE], file:PATH.wav, cmd:COMMAND"
VISION_KINDS = "test, camera, v4l2:DEVICE, file:PATH.npy|.yuv, cmd:COMMAND"


@dataclass
class SourcePlan:
    """What the agent is told to read (``spec``), the host file behind it, and the labels of a labelled stream."""

    text: str  # the --source as given (or "test")
    spec: dict[str, Any]
    file: Path | None = None  # pushed to the board; ``spec["path"]`` becomes its place there
    labels: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def is_file(self) -> bool:
        return self.file is not None


def _split(text: str) -> tuple[str, str]:
    kind, _, rest = text.partition(":")
    return kind.strip().lower(), rest


def _file(rest: str, suffixes: tuple[str, ...]) -> tuple[Path, dict[str, Any] | None]:
    path = Path(rest).expanduser()
    if not rest or not path.is_file():
        raise BadInput(f"--source file:{rest}: no such file")
    beside = path.with_suffix(".json")
    labels = json.loads(beside.read_text()) if beside.is_file() and path.suffix.lower() in suffixes else None
    return path, labels


def _command(rest: str) -> list[str]:
    try:
        argv = shlex.split(rest)
    except ValueError as exc:
        raise BadInput(f"--source cmd:{rest}: {exc}", hint='quote as in a shell: cmd:"sox in.wav -t raw -"') from None
    if not argv:
        raise BadInput("--source cmd: needs a command", hint="e.g. cmd:arecord -t raw -f S16_LE -r 16000 -c 1")
    return argv


def speech_source(text: str | None, speed: float = 1.0, test_stream: tuple[Path, Path] | None = None) -> SourcePlan:
    """The plan for a speech ``--source``; ``test_stream`` is (wav, labels) of the built stream for ``test``."""
    text = text or "test"
    kind, rest = _split(text)
    if speed != 1.0 and kind not in ("test", "file"):
        raise BadInput("--speed paces files only: a microphone or a command sets its own pace")
    if kind == "test":
        if test_stream is None:
            raise BadInput("no test stream was built")
        wav, labels = test_stream
        return SourcePlan(text, {"kind": "file", "format": "wav", "speed": speed}, wav, json.loads(labels.read_text()))
    if kind == "file":
        path, labels = _file(rest, (".wav", ".raw", ".s16"))
        with open(path, "rb") as handle:
            fmt = "wav" if handle.read(4) == b"RIFF" else "s16le"
        return SourcePlan(text, {"kind": "file", "format": fmt, "speed": speed}, path, labels)
    if kind == "mic":
        return SourcePlan(text, {"kind": "mic", "device": rest or None})
    if kind == "cmd":
        return SourcePlan(text, {"kind": "cmd", "argv": _command(rest), "format": "s16le"})
    raise BadInput(f"unknown speech source {text!r}", hint=f"--source is one of: {SPEECH_KINDS}")


def vision_source(
    text: str | None, fps: float, size: tuple[int, int], test_stream: tuple[Path, Path] | None = None
) -> SourcePlan:
    """The plan for a vision ``--source`` at ``fps`` frames a second; ``size`` is (width, height) of raw YUV420."""
    text = text or "test"
    kind, rest = _split(text)
    width, height = size
    if kind == "test":
        if test_stream is None:
            raise BadInput("no test stream was built")
        frames, labels = test_stream
        data = json.loads(labels.read_text())
        spec = {"kind": "file", "format": "yuv420", "width": data["width"], "height": data["height"], "fps": fps,
                "loop": True}  # fmt: skip
        return SourcePlan(text, spec, frames, data)
    if kind == "file":
        path, labels = _file(rest, (".npy", ".yuv", ".raw", ".i420"))
        if path.suffix.lower() == ".npy":
            return SourcePlan(text, {"kind": "file", "format": "npy", "fps": fps, "loop": True}, path, labels)
        if labels and {"width", "height"} <= set(labels):
            width, height = int(labels["width"]), int(labels["height"])
        frame = width * height * 3 // 2
        if path.stat().st_size < frame or path.stat().st_size % frame:
            raise BadInput(
                f"{path} is not whole {width}x{height} YUV420 frames ({path.stat().st_size} bytes)",
                hint="give its size: --frame-size WxH (or a NAME.json beside it with width and height)",
            )
        spec = {"kind": "file", "format": "yuv420", "width": width, "height": height, "fps": fps, "loop": True}
        return SourcePlan(text, spec, path, labels)
    frames_spec = {"format": "yuv420", "width": width, "height": height, "fps": fps}
    if kind == "camera":
        return SourcePlan(text, {"kind": "camera", **frames_spec})
    if kind == "v4l2":
        return SourcePlan(text, {"kind": "v4l2", "device": rest or "/dev/video0", **frames_spec})
    if kind == "cmd":
        return SourcePlan(text, {"kind": "cmd", "argv": _command(rest), **frames_spec})
    raise BadInput(f"unknown vision source {text!r}", hint=f"--source is one of: {VISION_KINDS}")
