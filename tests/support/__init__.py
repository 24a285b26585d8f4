"""What the tests share: the checkout's board-like Python, the CLI runner, model builders and real faults."""

from __future__ import annotations

import functools
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVICE_PYTHON = ROOT / ".venv-device" / "bin" / "python"  # what a board has: numpy + ai-edge-litert, no TensorFlow


@functools.cache
def device_runtime_version() -> str:
    """The ai-edge-litert version in .venv-device, read from the package as the agent reads it."""
    command = [str(DEVICE_PYTHON), "-c", "import ai_edge_litert; print(ai_edge_litert.__version__)"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def wait_for(condition, seconds: float) -> bool:
    """Poll ``condition`` every 0.2 s until it holds or ``seconds`` pass (a test's deadline, never an endless wait)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()
