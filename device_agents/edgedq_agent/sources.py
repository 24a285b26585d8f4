"""Live sources on the board: audio samples and camera frames, each stamped with the moment it arrived.

Every source is read the same way, by a reader thread: a file (paced to real time, so each chunk is released
when it would have been captured), or a process writing to its stdout: the microphone through ``arecord``,
the Pi camera through ``rpicam-vid``, a V4L2 camera through ``ffmpeg``, or the user's own command (``cmd:``,
run as an argv, never through a shell, in the agent's working folder).  The process runs in the agent's own
process group, so killing the agent's group ends it too.

Formats: raw S16_LE (16 kHz mono), WAV (16 kHz mono 16-bit PCM), YUV420 (I420) frames of a known size, and
``.npy`` frames ((N, H, W, 3) uint8 RGB or (N, H, W) grey).  ``open_source`` turns the host's spec into a
``Source``; the consumer takes items with ``take``.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import shutil
import signal
import struct
import subprocess
import threading
import time
from typing import Any, BinaryIO, Callable, Deque, List, Mapping, NamedTuple, Optional, Tuple

import numpy as np
from edgedq_agent.runtime import AgentFailure

SAMPLE_RATE = 16000
_TOOLS = {  # what each kind of live source needs on the board, and how to get it
    "arecord": "sudo apt install alsa-utils",
    "rpicam-vid": "sudo apt install rpicam-apps (Raspberry Pi OS)",
    "ffmpeg": "sudo apt install ffmpeg",
}


WAITING = object()  # what ``take`` returns when nothing arrived in time


class Item(NamedTuple):
    data: Any  # bytes of one chunk or frame, or a frame as an array
    arrived: float  # time.perf_counter() when it was complete
    index: int  # its position in the stream (chunks or frames, dropped ones counted)


def wav_data(head: bytes) -> Tuple[int, Optional[int]]:
    """Where a 16 kHz mono 16-bit PCM WAV's samples start and how many bytes they are (None: to the end, as a
    recorder that streams a WAV writes it); anything else is refused, saying what it is."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise AgentFailure("bad_source", "not a WAV file (no RIFF/WAVE header)")
    position, layout = 12, None
    while position + 8 <= len(head):
        name, size = head[position : position + 4], struct.unpack("<I", head[position + 4 : position + 8])[0]
        if name == b"fmt ":
            layout = struct.unpack("<HHIIHH", head[position + 8 : position + 24])
        elif name == b"data":
            if layout is None:
                raise AgentFailure("bad_source", "WAV file without a fmt chunk before its data")
            audio_format, channels, rate, _rate, _align, bits = layout
            if (audio_format, channels, rate, bits) != (1, 1, SAMPLE_RATE, 16):
                raise AgentFailure(
                    "bad_source",
                    "the WAV is format %d, %d channel(s), %d Hz, %d-bit; the spotter takes 16 kHz mono 16-bit PCM"
                    % (audio_format, channels, rate, bits),
                    "convert it: sox IN.wav -r 16000 -c 1 -b 16 OUT.wav (or ffmpeg -i IN -ar 16000 -ac 1 OUT.wav)",
                )
            return position + 8, (None if size in (0, 0xFFFFFFFF) else size)
        position += 8 + size + (size & 1)
    raise AgentFailure("bad_source", "WAV file without a data chunk in its first %d bytes" % len(head))


def i420_frame_bytes(width: int, height: int) -> int:
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise AgentFailure("bad_source", "YUV420 frames need an even width and height, not %dx%d" % (width, height))
    return width * height * 3 // 2


def end_group() -> None:
    """Kill what a source command started and left behind, once the stream is over (the agent process only).

    The host starts the agent as the leader of a process group of its own (so that killing the group on Ctrl-C
    ends the source too); a source process stays in that group, and so does whatever it starts.
    """
    for pid in group_members():
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def group_members() -> List[int]:
    """The other processes of the agent's process group; none when the agent does not lead it (a wrapper
    script that did not exec leads it, or this is not the agent)."""
    group, me = os.getpgrp(), os.getpid()
    if group != me:
        return []
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == group:
            members.append(int(entry))
    return members


def process_argv(spec: Mapping[str, Any]) -> List[str]:
    """The command that produces a process source's bytes on stdout, from the tools this board has."""
    kind = spec["kind"]
    if kind == "cmd":
        return [str(arg) for arg in spec["argv"]]
    if kind == "mic":
        argv = ["arecord", "-q", "-t", "raw", "-f", "S16_LE", "-r", str(SAMPLE_RATE), "-c", "1"]
        return argv + (["-D", str(spec["device"])] if spec.get("device") else [])
    size = ["--width", str(spec["width"]), "--height", str(spec["height"]), "--framerate", str(spec["fps"])]
    if kind == "camera":
        tool = "rpicam-vid" if shutil.which("rpicam-vid") or not shutil.which("libcamera-vid") else "libcamera-vid"
        return [tool, "-n", "-t", "0", "--codec", "yuv420", *size, "-o", "-"]
    if kind == "v4l2":
        return ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "v4l2", "-framerate", str(spec["fps"]),
                "-video_size", "%dx%d" % (spec["width"], spec["height"]), "-i", str(spec["device"]),
                "-pix_fmt", "yuv420p", "-f", "rawvideo", "-"]  # fmt: skip
    raise AgentFailure("bad_source", "unknown source kind %r" % kind)


class Source:
    """Items from a reader thread: ``take`` returns the next one (or None at the end), ``close`` stops it all.

    ``latest_only``: a camera keeps only the newest frame; one replaced before it was taken is dropped
    (counted), which is how a real-time loop keeps its latency bounded.  Audio keeps every chunk.
    """

    def __init__(self, spec: Mapping[str, Any], item_bytes: int, period_s: float, latest_only: bool) -> None:
        self.spec, self.item_bytes, self.period_s = spec, item_bytes, period_s
        self.speed = float(spec.get("speed") or 1.0)
        self.latest_only = latest_only
        self.dropped = 0
        self.error: Optional[AgentFailure] = None
        self.process: Optional[subprocess.Popen] = None
        self.stderr: Deque[str] = collections.deque(maxlen=20)
        self.read_items = 0
        self.last_arrival = time.perf_counter()
        self._queue: queue.Queue[Optional[Item]] = queue.Queue()
        self._slot: Optional[Item] = None
        self._ended = False
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- the consumer's side --------------------------------------------------------------------------------
    def start(self) -> Source:
        target = self._open()
        self._thread = threading.Thread(target=self._guarded, args=(target,), daemon=True)
        self._thread.start()
        return self

    def take(self, timeout: float) -> Any:
        """The next item; None at the end of the stream; ``WAITING`` when none came within ``timeout`` s."""
        if not self.latest_only:
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                return WAITING
        else:
            with self._ready:
                if not self._ready.wait_for(lambda: self._slot is not None or self._ended, timeout):
                    return WAITING
                item, self._slot = self._slot, None
        if item is None:
            self._raise_if_failed()
        return item

    def check_alive(self, silent_s: float) -> None:
        """Fail when nothing came for ``silent_s`` (a microphone or a camera sends all the time)."""
        if time.perf_counter() - self.last_arrival > silent_s:
            tail = " | ".join(list(self.stderr)[-3:])
            raise AgentFailure("source_silent", "the source sent nothing for %g s%s" % (silent_s, tail and ": " + tail))

    def close(self) -> None:
        """Stop reading and end the source's process (what it started: ``end_group``)."""
        self._stop.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def describe(self) -> str:
        if self.spec["kind"] == "file":
            return "file %s" % os.path.basename(self.spec["path"])
        return " ".join(process_argv(self.spec))

    def _raise_if_failed(self) -> None:
        if self.error is not None and self.read_items == 0:
            raise self.error

    # -- the reader's side ------------------------------------------------------------------------------------
    def _deliver(self, data: Any, index: int) -> None:
        item = Item(data, time.perf_counter(), index)
        self.read_items += 1
        self.last_arrival = item.arrived
        if not self.latest_only:
            self._queue.put(item)
            return
        with self._ready:
            if self._slot is not None:
                self.dropped += 1
            self._slot = item
            self._ready.notify()

    def _finish(self) -> None:
        if self.latest_only:
            with self._ready:
                self._ended = True
                self._ready.notify()
        else:
            self._queue.put(None)

    def _guarded(self, target: Callable[[], None]) -> None:
        try:
            target()
        except AgentFailure as failure:
            self.error = failure
        except Exception as exc:  # the consumer reports it; a reader thread must not die silently
            self.error = AgentFailure("source_failed", "reading the source failed: %s: %s" % (type(exc).__name__, exc))
        finally:
            self._finish()

    def _open(self) -> Callable[[], None]:
        kind = self.spec["kind"]
        if kind == "file":
            path = self.spec["path"]
            if not os.path.isfile(path):
                raise AgentFailure("bad_source", "source file not found: %s" % path)
            if self.spec.get("format") == "npy":
                return self._read_npy
            return self._read_file
        argv = process_argv(self.spec)
        try:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
            )  # stdin is never the agent's own: that is the protocol
        except OSError as exc:
            hint = _TOOLS.get(os.path.basename(argv[0]), "check the command: it runs in the agent's work folder")
            message = "cannot start %s on the board: %s" % (argv[0], exc.strerror)
            raise AgentFailure("source_missing", message, hint) from None
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        return self._read_process

    def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for raw in self.process.stderr:
            self.stderr.append(raw.decode(errors="replace").rstrip())

    def _read_exactly(self, stream: BinaryIO, size: int) -> bytes:
        parts, missing = [], size
        while missing and not self._stop.is_set():
            part = stream.read(missing)
            if not part:
                break
            parts.append(part)
            missing -= len(part)
        return b"".join(parts)

    def _read_process(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stream, index = self.process.stdout, 0
        while not self._stop.is_set():
            chunk = self._read_exactly(stream, self.item_bytes)  # type: ignore[arg-type]
            if len(chunk) < self.item_bytes:
                break
            self._deliver(chunk, index)
            index += 1
        if self._stop.is_set():
            return
        status = self.process.wait()
        if status != 0:
            tail = " | ".join(list(self.stderr)[-3:])
            self.error = AgentFailure(
                "source_failed",
                "%s exited with status %d%s" % (process_argv(self.spec)[0], status, (": " + tail) if tail else ""),
                _TOOLS.get(process_argv(self.spec)[0]),
            )

    def _pace(self, index: int, started: float, done_at_end: bool) -> bool:
        """Wait until item ``index`` would have been captured (its end, for audio); False when stopped."""
        due = started + (index + (1 if done_at_end else 0)) * self.period_s / self.speed
        delay = due - time.perf_counter()
        return not self._stop.wait(delay) if delay > 0 else not self._stop.is_set()

    def _read_file(self) -> None:
        with open(self.spec["path"], "rb") as handle:
            start, size = 0, None
            if self.spec.get("format") == "wav":
                start, size = wav_data(handle.read(4096))
                handle.seek(start)
            started, index, left = time.perf_counter(), 0, size
            while True:
                chunk = handle.read(self.item_bytes if left is None else min(self.item_bytes, left))
                left = None if left is None else left - len(chunk)
                if len(chunk) < self.item_bytes:
                    if not self.spec.get("loop") or index == 0:
                        return
                    handle.seek(start)
                    left = size
                    continue
                if not self._pace(index, started, done_at_end=not self.latest_only):
                    return
                self._deliver(chunk, index)
                index += 1

    def _read_npy(self) -> None:
        try:
            frames = np.load(self.spec["path"], mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise AgentFailure("bad_source", "cannot read the frames %s: %s" % (self.spec["path"], exc)) from None
        if frames.dtype != np.uint8 or frames.ndim not in (3, 4) or (frames.ndim == 4 and frames.shape[3] != 3):
            raise AgentFailure(
                "bad_source",
                ".npy frames must be uint8 (N, H, W, 3) RGB or (N, H, W) grey, not %s %s"
                % (frames.dtype, list(frames.shape)),
            )
        started, index = time.perf_counter(), 0
        while len(frames):
            for frame in frames:
                if not self._pace(index, started, done_at_end=False):
                    return
                self._deliver(np.asarray(frame), index)
                index += 1
            if not self.spec.get("loop"):
                return


def audio_source(spec: Mapping[str, Any], hop_samples: int) -> Source:
    """16 kHz mono S16_LE in chunks of one hop, every chunk kept (falling behind shows as latency)."""
    return Source(spec, hop_samples * 2, hop_samples / float(SAMPLE_RATE), latest_only=False)


def frame_source(spec: Mapping[str, Any]) -> Source:
    """Frames at ``spec['fps']``: I420 bytes of ``width`` x ``height``, or ``.npy`` arrays; only the newest kept."""
    size = 0 if spec.get("format") == "npy" else i420_frame_bytes(int(spec["width"]), int(spec["height"]))
    return Source(spec, size, 1.0 / float(spec["fps"]), latest_only=True)
