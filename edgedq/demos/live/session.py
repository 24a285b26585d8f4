"""One live stream on one device: hold it, push the model and any source file, relay the board's events.

The loop runs in one fresh agent process (``AgentRunner``).  Every event the board sends is kept as it
arrives, so when the user presses Ctrl-C the agent's whole process group is killed on the board (the
source's ``arecord`` or ``rpicam-vid`` with it), the board is released, and what was received so far is
returned, marked interrupted: the summary is built from it as from a finished run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedq.demos.live.sources import SourcePlan
from edgedq.device.connection import Connection
from edgedq.device.inventory import Device
from edgedq.measure.events import Events, RunStarted, Stage, no_events
from edgedq.measure.runner import AgentRunner, connection_to

SILENCE_S = 60.0  # the loops tick every second: this long without a word is a hung agent or a dead link
START_S = 120.0  # loading the runtime and the model, starting the source, on a slow board


@dataclass
class LiveRun:
    """What came back from the board: its facts, every event in order, and the result unless interrupted."""

    device: str
    facts: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    result: dict[str, Any] | None = None
    interrupted: bool = False
    wall_s: float = 0.0

    @property
    def emulated(self) -> str | None:
        return self.facts.get("emulated")

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event.get("kind") == kind]


def stream(
    device: Device | str,
    request: str,
    body: dict[str, Any],
    model: Path,
    plan: SourcePlan,
    *,
    expected_s: float | None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    notify: Events = no_events,
    lock_wait: float = 600.0,
    accept_new_host: bool = False,
    connection: Connection | None = None,
    inventory: str | Path | None = None,
) -> LiveRun:
    """Run ``request`` (``live_speech`` or ``live_vision``) with ``body`` until the stream ends or Ctrl-C.

    ``expected_s``: how long the stream should take in wall time (None: until stopped); the request's deadline
    is that plus ``START_S``, and silence longer than ``SILENCE_S`` is an error either way.
    """
    files = [Path(model), *([plan.file] if plan.file else [])]
    with (
        connection_to(device, connection, inventory, accept_new_host, notify) as opened,
        AgentRunner(opened, files, lock_wait, notify) as runner,
    ):
        run = LiveRun(opened.name)
        spec = dict(plan.spec)
        if plan.file is not None:
            spec["path"] = runner.remote(plan.file)
        request_body = {**body, "model": runner.remote(model), "source": spec}

        def hello(message: dict[str, Any]) -> None:
            run.facts = message.get("facts") or {}
            notify(RunStarted(opened.name, f"{request} {Path(model).name}"))
            notify(Stage(opened.name, f"streaming from {plan.text} on {opened.name}"))

        def relay(event: dict[str, Any]) -> None:
            run.events.append(event)
            if on_event is not None:
                on_event(event)

        started = time.monotonic()
        deadline = None if expected_s is None else expected_s + START_S
        try:
            _hello, run.result = runner.request(request, request_body, SILENCE_S, verify=files, deadline_s=deadline,
                                                on_hello=hello, on_event=relay)  # fmt: skip
        except KeyboardInterrupt:  # the agent's process group is already killed (AgentClient's exit)
            if not run.facts:
                raise  # nothing was streaming yet: an interrupted start is not a run
            run.interrupted = True
        run.wall_s = time.monotonic() - started
    return run
