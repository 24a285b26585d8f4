"""The ``edgedq`` command: a thin Click layer over the library."""

from __future__ import annotations

from edgedq.cli import models  # noqa: F401  (registers convert, inspect, compare)
from edgedq.cli.app import cli

__all__ = ["cli"]
