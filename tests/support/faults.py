"""Real faults for the agent: a board 'python' that runs the agent and then breaks its process for real."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support import DEVICE_PYTHON


def wrapper_python(tmp_path: Path, payload: str, exec_: bool = True) -> Path:
    """A python that runs the agent and, 1 s later, executes ``payload`` inside it (a segfault, a SIGSTOP ...).

    With ``exec_=False`` the wrapper script stays as the agent's parent, as many do: killing only the
    wrapper would leave the agent running.  The agent's own command line names ``fault_agent.py``.
    """
    (tmp_path / "fault_agent.py").write_text(
        "import os, signal, ctypes, sys, threading, runpy\n"
        f"threading.Timer(1.0, lambda: {payload}).start()\n"
        "sys.argv = sys.argv[1:]\n"
        'runpy.run_path(sys.argv[0], run_name="__main__")\n'
    )
    script = tmp_path / "python"
    launch = "exec " if exec_ else ""
    script.write_text(f'#!/bin/sh\n{launch}{DEVICE_PYTHON} {tmp_path / "fault_agent.py"} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def lying_agent(tmp_path: Path, corruption: str) -> Path:
    """A python that runs the real agent, but whose bench results for models named ``victim*`` are corrupted.

    ``corruption`` is Python run with ``result`` (the real result dict) in scope: it may change ``result`` or
    set ``line`` to a raw line to write instead (then the agent keeps quiet, as a confused one would).
    A fake agent stands in for a broken or hostile board, which cannot be made here for real.
    """
    script = tmp_path / "python"
    code = (
        "import sys, json, math, time, runpy\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import edgedq_agent.bench as bench, edgedq_agent.protocol as protocol\n"
        "real = bench.run_bench\n"
        "def run_bench(runtime, request):\n"
        "    result = real(runtime, request)\n"
        "    if 'victim' not in request['model']:\n"
        "        return result\n"
        "    line = None\n"
        + "".join(f"    {statement}\n" for statement in corruption.splitlines())
        + "    if line is not None:\n"
        "        protocol._OUT.write(line + '\\n'); protocol._OUT.flush(); time.sleep(600)\n"
        "    return result\n"
        "bench.run_bench = run_bench\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
    )
    (tmp_path / "lying_agent.py").write_text(code)
    script.write_text(f'#!/bin/sh\nexec {DEVICE_PYTHON} {tmp_path / "lying_agent.py"} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script
