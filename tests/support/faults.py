"""Real faults for the agent: a board 'python' that runs the agent and then breaks its process for real."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support import DEVICE_PYTHON


def wrapper_python(tmp_path: Path, payload: str) -> Path:
    """A python that runs the agent and, 1 s later, executes ``payload`` inside it (a segfault, a SIGSTOP ...)."""
    script = tmp_path / "python"
    script.write_text(
        "#!/bin/sh\n"
        f"exec {DEVICE_PYTHON} -c 'import os, signal, ctypes, sys, threading, runpy\n"
        f"threading.Timer(1.0, lambda: {payload}).start()\n"
        "sys.argv = sys.argv[1:]\n"
        'runpy.run_path(sys.argv[0], run_name="__main__")\' "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script
