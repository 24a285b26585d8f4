"""The workers' copies of the working tree, and the pytest sessions each runs on a mutant put into its copy."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from tools.mutants import LINKED, ROOT, WORKDIR

WARMUP = "def test_mutants_warmup(sources, converted, probes, tf_default):\n    pass\n"


def tree_files() -> list[str]:
    """The working tree as it is now: tracked files (edited or not) and new ones that are not ignored."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    return [name for name in listed if name and (ROOT / name).is_file() and name.split("/")[0] not in LINKED]


def make_copy(folder: Path, names: list[str]) -> None:
    if folder.exists():
        unmount_below(folder)
        shutil.rmtree(folder)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, folder / name)
    for name in LINKED:
        if (ROOT / name).exists():
            (folder / name).symlink_to(ROOT / name)
    (folder / "tests" / "test_zz_mutants_warmup.py").write_text(WARMUP)


def unmount_below(folder: Path) -> None:
    """A session killed at its timeout may leave a test's tmpfs mounted under its folder."""
    resolved = str(folder.resolve())
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(resolved + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


PROBE = """
import json, os, sys, zipfile
from pathlib import Path
import edgedq, edgedq_agent
from edgedq.device.bundle import build_agent
bundle = zipfile.ZipFile(build_agent().path)
agent = Path(edgedq_agent.__file__).parent
same = all(bundle.read("edgedq_agent/" + p.name) == p.read_bytes() for p in agent.glob("*.py"))
print(json.dumps([edgedq.__file__, edgedq_agent.__file__, same]))
"""


class Worker:
    def __init__(self, number: int, names: list[str], assets: Path) -> None:
        self.root = WORKDIR / f"w{number}"
        self.temp = WORKDIR / f"w{number}-tmp"
        make_copy(self.root, names)
        self.env = {
            **os.environ,
            "PYTHONPATH": f"{self.root}:{self.root / 'device_agents'}",
            "EDGEDQ_TEST_ASSETS": str(assets),
            "PYTHONDONTWRITEBYTECODE": "1",
            "EDGEDQ_NO_SKIPS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("EDGEDQ_CACHE", None)

    def check_imports(self) -> None:
        """pytest, its subprocesses and the agent bundle must all take the copy's code, not the checkout's."""
        env = {**self.env, "EDGEDQ_CACHE": str(self.temp / "probe-cache")}
        done = subprocess.run(
            [str(self.root / ".venv/bin/python"), "-c", PROBE], cwd=self.root, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"mutants: the import probe failed in {self.root}:\n{done.stderr}")
        host, agent, same = json.loads(done.stdout)
        if not (host.startswith(f"{self.root}/") and agent.startswith(f"{self.root}/device_agents/") and same):
            raise SystemExit(f"mutants: {self.root} does not import its own copy: {host}, {agent}, bundle {same}")
        shutil.rmtree(self.temp / "probe-cache", ignore_errors=True)

    def pytest(self, tests: list[str], timeout: float, stall: float | None = None) -> tuple[str, float, str]:
        """("passed" | "failed" | "timeout", seconds, what failed).  A session is stopped as hung after ``timeout``
        seconds, or after ``stall`` seconds without output (pytest -q prints a character as each test ends).
        Its output is kept in ``last_output``, its longest silence in ``longest_quiet``."""
        argv = [
            str(self.root / ".venv/bin/python"),
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-header",
            f"--basetemp={self.temp}",
            *tests,
        ]
        unmount_below(self.temp)
        started = time.monotonic()
        process = subprocess.Popen(
            argv,
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        chunks: list[bytes] = []
        heard = [started, 0.0]  # when output last came, the longest silence so far

        def read() -> None:
            assert process.stdout is not None
            for chunk in iter(lambda: os.read(process.stdout.fileno(), 65536), b""):
                now = time.monotonic()
                heard[1] = max(heard[1], now - heard[0])
                heard[0] = now
                chunks.append(chunk)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        status = ""
        with live_lock:
            live.add(process.pid)
        try:
            while not status:
                try:
                    process.wait(timeout=0.2)
                    status = "passed" if process.returncode == 0 else "failed"
                except subprocess.TimeoutExpired:
                    now = time.monotonic()
                    if now - started > timeout or (stall is not None and now - heard[0] > stall):
                        status = "timeout"
        finally:
            _kill_group(process.pid)  # a hung session, or whatever one left running (agents, sshd)
            with live_lock:
                live.discard(process.pid)
        reader.join(10)
        self.longest_quiet = max(heard[1], time.monotonic() - heard[0])
        if status == "timeout":
            unmount_below(self.temp)
        text = b"".join(chunks).decode(errors="replace")
        self.last_output = text
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.MULTILINE)
        detail = failed[0] if failed else (text.strip().splitlines() or [""])[-1]
        if process.returncode == 5:
            status, detail = "failed", "no tests ran (check the target's tests)"
        return status, time.monotonic() - started, detail if status != "passed" else ""


live: set[int] = set()  # the process groups of running sessions, killed if the run is interrupted
live_lock = threading.Lock()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
