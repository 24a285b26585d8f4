"""What a measurement tells its caller while it works: small typed events, for progress lines only.

Results are returned by the functions, never carried by events; an event
says what is happening on which device, so one sink can follow many boards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    device: str


@dataclass(frozen=True)
class Connecting(Event):
    pass


@dataclass(frozen=True)
class Stage(Event):
    """A step of a longer job (converting, training, evaluating ...)."""

    text: str


@dataclass(frozen=True)
class LockWait(Event):
    """Another run holds the device; ``message`` says who."""

    message: str


@dataclass(frozen=True)
class Uploading(Event):
    sent: int
    total: int


@dataclass(frozen=True)
class Uploaded(Event):
    sent_files: int
    sent_bytes: int
    skipped_files: int


@dataclass(frozen=True)
class RunStarted(Event):
    label: str


@dataclass(frozen=True)
class RunProgress(Event):
    label: str
    phase: str
    done: int
    target: int


@dataclass(frozen=True)
class RunFailed(Event):
    label: str
    message: str


@dataclass(frozen=True)
class DeviceDone(Event):
    error: str | None = None


Events = Callable[[Event], None]


def no_events(_event: Event) -> None:
    """The sink for callers that show no progress."""
