"""The ``edgedq`` command: a thin Click layer over the library."""

from __future__ import annotations

from edgedq.cli import bench, demo, deploy, devices, evaluate, history, models, profile, tune  # noqa: F401  (registers the commands)
from edgedq.cli.app import cli

__all__ = ["cli"]
