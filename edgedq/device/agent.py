"""Talking to a running agent: the hello handshake, requests, progress, and every way it can fail.

An ``AgentProcess`` (a child process for ``local``, a channel for an SSH board)
only moves lines; ``AgentClient`` owns the protocol, the timeouts and turning
a crash or a hang into an error that names what happened.
"""

from __future__ import annotations

import collections
import contextlib
import json
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import IO, Any, Protocol

import edgedq_agent

from edgedq.device.protocol import check_event, check_result, parse
from edgedq.errors import AgentError, BadInput, DeviceError, EdgedqError, RuntimeMissing

Progress = Callable[[dict[str, Any]], None]
OnEvent = Callable[[dict[str, Any]], None]  # a streaming request's events (checked), as they arrive

# Agent error codes -> the host's error classes (and so exit codes).
_ENVELOPE = ("type", "id", "protocol")  # protocol fields of every message, not part of a result
_ERROR_CLASSES: dict[str, type[EdgedqError]] = {
    "runtime_missing": RuntimeMissing,
    "runtime_numpy_mismatch": RuntimeMissing,
    "op_version_unsupported": RuntimeMissing,
    "custom_op_missing": RuntimeMissing,
    "model_missing": BadInput,
    "model_invalid": BadInput,
    "bad_inputs": BadInput,
    "inference_failed": BadInput,
    "profiler_unavailable": RuntimeMissing,  # the device's runtime has no profiler edgedq can read
    "bad_source": BadInput,  # a live demo's file that is not what --source says
    "source_missing": DeviceError,  # the board lacks arecord, rpicam-vid, ffmpeg or the cmd: command
    "source_failed": DeviceError,  # it ran and failed (no microphone, camera busy ...)
    "source_silent": DeviceError,  # it ran and sent nothing
}


class AgentProcess(Protocol):
    """A started agent process somewhere: lines in, lines out, an exit status."""

    def send(self, line: str) -> None: ...
    def close_input(self) -> None: ...
    def exit_status(self, timeout: float) -> int | None: ...
    def stderr_tail(self) -> str: ...
    def kill(self) -> None: ...
    @property
    def lines(self) -> queue.Queue[str | None]: ...


def pump_lines(stream: Iterable[bytes | str] | IO[Any], sink: queue.Queue[str | None]) -> threading.Thread:
    """Read ``stream`` line by line into ``sink`` on a daemon thread; None marks EOF."""

    def run() -> None:
        try:
            for raw in stream:
                sink.put(raw.decode(errors="replace") if isinstance(raw, bytes) else raw)
        finally:
            sink.put(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class PipedProcess:
    """The half every agent process shares: stdout lines into a queue, the tail of stderr kept for error messages."""

    def _start_pumps(self, stdout: Iterable[bytes] | IO[Any], stderr: Iterable[bytes] | IO[Any]) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=50)
        pump_lines(stdout, self._lines)
        threading.Thread(target=self._drain_stderr, args=(stderr,), daemon=True).start()

    def _drain_stderr(self, stream: Iterable[bytes] | IO[Any]) -> None:
        with contextlib.suppress(Exception):  # the stream ends however the process or connection ends
            for raw in stream:
                self._on_stderr(raw.decode(errors="replace"))

    def _on_stderr(self, line: str) -> None:
        self._stderr.append(line)

    @property
    def lines(self) -> queue.Queue[str | None]:
        return self._lines

    def stderr_tail(self) -> str:
        return "".join(self._stderr)


class AgentClient:
    """One agent process: hello first, then requests; closing it ends the process."""

    def __init__(self, process: AgentProcess, device: str, timeout: float) -> None:
        self.process, self.device, self.timeout = process, device, timeout
        self.hello: dict[str, Any] = {}
        self._counter = 0

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close()
        else:  # interrupted or failed: no grace period for an agent that may be busy for minutes
            with contextlib.suppress(EdgedqError):  # the error on its way out says more
                self.process.kill()

    def close(self) -> None:
        self.process.close_input()
        if self.process.exit_status(timeout=5) is None:
            self.process.kill()

    def _next(self, doing: str, deadline: float | None = None) -> dict[str, Any]:
        wait = self.timeout if deadline is None else min(self.timeout, max(0.0, deadline - time.monotonic()))
        try:
            line = self.process.lines.get(timeout=wait)
        except queue.Empty:
            self.process.kill()  # raises ConnectionFailed when it is the link that went silent, not the agent
            if wait < self.timeout:
                raise AgentError(
                    f"{self.device}: the agent was still {doing} at its deadline; it was stopped",
                    hint="a run may take at most 2 x (--max-secs + --timeout); raise them for a very slow model",
                ) from None
            raise AgentError(
                f"{self.device}: the agent sent nothing for {self.timeout:.0f} s while {doing}; it was stopped",
                hint="raise --timeout if the model is very slow, else the runtime hung",
            ) from None
        if line is None:
            raise self._died(doing)
        try:
            return parse(line)
        except EdgedqError as error:  # whatever it is doing, it is not speaking our protocol
            self.process.kill()
            raise type(error)(f"{self.device}: {error.message}", error.hint, error.code) from None

    def _died(self, doing: str) -> EdgedqError:
        status = self.process.exit_status(timeout=10)
        tail = self.process.stderr_tail().strip().splitlines()[-3:]
        detail = f": {' | '.join(tail)}" if tail else ""
        if status == 127:
            return RuntimeMissing(
                f"{self.device}: the device's Python was not found{detail}",
                hint=f"run 'edgedq devices setup {self.device}', or set 'python' for it in the inventory",
            )
        if status is not None and status < 0:
            name = signal.Signals(-status).name if -status in signal.Signals._value2member_map_ else str(-status)
            return AgentError(
                f"{self.device}: the agent crashed ({name}) while {doing}{detail}",
                hint="a crash inside the TFLite runtime; try --no-xnnpack or another runtime version",
            )
        return AgentError(f"{self.device}: the agent exited (status {status}) while {doing}{detail}")

    def start(self) -> dict[str, Any]:
        message = self._next("starting")
        if message.get("type") != "hello":
            raise AgentError(f"{self.device}: the agent did not say hello first")
        self.hello = message
        return message

    def request(
        self,
        kind: str,
        body: dict[str, Any],
        on_progress: Progress | None = None,
        deadline_s: float | None = None,
        on_event: OnEvent | None = None,
    ) -> dict[str, Any]:
        """Send one request; progress goes to ``on_progress``; the checked result comes back without its envelope.

        ``deadline_s`` bounds the whole request, however much progress the agent reports; a streaming request's
        events go to ``on_event`` (an exception raised there, Ctrl-C included, kills the agent on its way out).
        """
        self._counter += 1
        request_id = f"{kind}-{self._counter}"
        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        self.process.send(
            json.dumps({"type": kind, "id": request_id, "protocol": edgedq_agent.PROTOCOL_VERSION, **body}) + "\n"
        )
        while True:
            message = self._next(f"running {kind}", deadline)
            if message.get("id") not in (request_id, None):
                continue
            if message["type"] == "progress":
                if on_progress:
                    on_progress(message)
            elif message["type"] == "event":
                try:
                    check_event(kind, message)
                except EdgedqError:
                    self.process.kill()
                    raise
                if on_event:
                    on_event({k: v for k, v in message.items() if k not in _ENVELOPE})
            elif message["type"] == "result":
                return check_result(kind, {k: v for k, v in message.items() if k not in _ENVELOPE})
            elif message["type"] == "error":
                raise error_from_agent(self.device, message)
            else:
                raise AgentError(f"{self.device}: the agent answered {kind} with a {message['type']} message")


def one_request(
    process: AgentProcess,
    device: str,
    kind: str,
    body: dict[str, Any],
    timeout: float,
    on_progress: Progress | None = None,
    deadline_s: float | None = None,
    on_hello: OnEvent | None = None,
    on_event: OnEvent | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fresh agent process for one request: its hello and its result (it ends when this returns).

    ``on_hello`` sees the hello before the request goes (a streaming caller shows what the board is at once).
    """
    with AgentClient(process, device, timeout) as client:
        hello = client.start()
        if on_hello:
            on_hello(hello)
        return hello, client.request(kind, body, on_progress, deadline_s, on_event)


def error_from_agent(device: str, message: dict[str, Any]) -> EdgedqError:
    cls = _ERROR_CLASSES.get(str(message.get("code")), AgentError)
    return cls(f"{device}: {message.get('message')}", hint=message.get("hint"), code=message.get("code"))
