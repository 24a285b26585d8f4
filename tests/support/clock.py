"""A board python whose agent reads a virtual clock: time passes only while the runtime works, by fixed amounts.

The agent, the runtime and the model are real; only ``time.perf_counter`` is replaced, and the runtime's
Interpreter advances it by ``load_s`` when a model is loaded, ``allocate_s`` when tensors are allocated,
``set_s`` when an input is set and ``invoke_s`` per inference.  Every figure of the timing loop then has one
exact expected value.  Binary fractions (2**-k) keep the sums exact.
"""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support import DEVICE_PYTHON

_AGENT = """\
import runpy, sys, time
import ai_edge_litert.interpreter as module

now = [1000.0]
time.perf_counter = lambda: now[0]


class Interpreter(module.Interpreter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        now[0] += {load_s!r}

    def allocate_tensors(self):
        result = super().allocate_tensors()
        now[0] += {allocate_s!r}
        return result

    def set_tensor(self, index, value):
        result = super().set_tensor(index, value)
        now[0] += {set_s!r}
        return result

    def invoke(self):
        result = super().invoke()
        now[0] += {invoke_s!r}
        return result


module.Interpreter = Interpreter
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def virtual_clock_python(folder: Path, load_s: float, allocate_s: float, invoke_s: float, set_s: float = 0.0) -> Path:
    """``folder/python``: runs the agent (its argv) in ``.venv-device`` with the virtual clock."""
    folder.mkdir(parents=True, exist_ok=True)
    agent = folder / "virtual_clock_agent.py"
    agent.write_text(_AGENT.format(load_s=load_s, allocate_s=allocate_s, invoke_s=invoke_s, set_s=set_s))
    script = folder / "python"
    script.write_text(f'#!/bin/sh\nexec {DEVICE_PYTHON} {agent} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script
