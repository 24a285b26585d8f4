"""Is a board ready, and making it ready: ``edgedq devices check`` and ``edgedq devices setup``.

``setup`` makes a venv in the board's work folder with numpy and the same
ai-edge-litert version as this host, with the board's own pip; ``--offline``
downloads the wheels for the board's platform here (its arch, glibc and
Python come from the agent's hello) and pushes them, for boards without internet.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from edgedq import files
from edgedq.device import connect
from edgedq.device.agent import AgentClient
from edgedq.device.bundle import build_agent
from edgedq.device.connection import Connection
from edgedq.device.cpu import int8_kernels
from edgedq.device.inventory import Device
from edgedq.errors import DeviceError, EdgedqError, RuntimeMissing

VENV = "venv"
Notice = Callable[[str], None]


@dataclass
class DeviceCheck:
    device: str
    facts: dict[str, Any] = field(default_factory=dict)
    runtime_error: dict[str, Any] | None = None
    python: str = ""
    probe: dict[str, Any] | None = None  # the agent's probe: the runtime loaded and ran a tiny model
    target: dict[str, Any] | None = None  # an SSH board: how it was reached, where each setting came from

    @property
    def ready(self) -> bool:
        return self.runtime_error is None and self.probe is not None

    @property
    def int8_kernels(self) -> dict[str, str]:
        """The int8 kernels the board's CPU features select: how much int8 can gain there, before anything runs."""
        return int8_kernels(self.facts)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ready": self.ready, "int8_kernels": self.int8_kernels}


def litert_requirement() -> str:
    """The board gets the ai-edge-litert this host has, so the op versions it writes are the ones it runs."""
    return f"ai-edge-litert=={metadata.version('ai-edge-litert')}"


def hello(device: Device, accept_new_host: bool = False, timeout: float = 60.0) -> DeviceCheck:
    """Connect, push the agent if needed, read its hello facts, and probe the runtime (no lock: no user model runs)."""
    with (
        connect(device, accept_new_host) as connection,
        AgentClient(connection.start_agent(build_agent().path), device.name, timeout) as client,
    ):
        message = client.start()
        check = DeviceCheck(device.name, message["facts"], message.get("runtime_error"), device.python or "python3")
        check.target = connection.describe_target()
        if check.runtime_error is None:
            try:
                check.probe = client.request("probe", {})
            except EdgedqError as error:  # named, but it does not load or run: not ready, and say why
                reason = str(error).removeprefix(f"{device.name}: ")
                check.runtime_error = {"code": error.code, "message": reason, "hint": error.hint}
    return check


def remedy(check: DeviceCheck, device: Device) -> str | None:
    if check.ready:
        return None
    error = check.runtime_error or {}
    setup_command = "make setup (it builds .venv-device)" if device.is_local else f"edgedq devices setup {device.name}"
    hint = error.get("hint") or ""
    return f"{hint}; or run: {setup_command}" if hint else setup_command


def wheel_platforms(facts: dict[str, Any]) -> list[str]:
    """pip ``--platform`` tags a board can install: manylinux_2_17 up to its glibc, for its arch."""
    arch = str(facts.get("arch") or "")
    libc = str(facts.get("libc") or "")
    if not arch or not libc.startswith("glibc "):
        raise DeviceError(
            f"cannot tell the board's wheel platform (arch {arch or '?'}, libc {libc or '?'})",
            hint="use 'edgedq devices setup' without --offline on a board with internet",
        )
    major, minor = (int(part) for part in libc.split()[1].split(".")[:2])
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 16, -1)]
    return [*tags, f"manylinux2014_{arch}", f"linux_{arch}"]


def download_wheels(facts: dict[str, Any], requirements: list[str], notice: Notice) -> list[Path]:
    """pip download for the board's platform and Python into EDGEDQ_HOME/wheels; cached by pip and by folder."""
    version = "".join(str(facts["python"]).split(".")[:2])
    folder = files.cache_dir("wheels") / f"{facts['arch']}-cp{version}"
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest", str(folder)]
    for platform in wheel_platforms(facts):
        command += ["--platform", platform]
    command += ["--python-version", version, "--implementation", "cp", "--abi", f"cp{version}", *requirements]
    notice(f"downloading wheels for {facts['arch']} cp{version}")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise DeviceError(f"cannot download the board's wheels: {last}", hint="check this host's access to PyPI")
    return sorted(folder.glob("*.whl"))


def setup(
    device: Device, offline: bool, accept_new_host: bool = False, base_python: str = "python3", notice: Notice = print
) -> DeviceCheck:
    """Make WORKDIR/venv with numpy + ai-edge-litert, then check it with a hello from that venv's Python."""
    if device.is_local:
        raise DeviceError("the local device is set up by 'make setup' (.venv-device)")
    facts = hello(replace(device, python=base_python), accept_new_host).facts
    requirements = ["numpy", litert_requirement()]
    wheels = download_wheels(facts, requirements, notice) if offline else []
    with connect(device, accept_new_host) as connection, connection.hold(600, notice):
        # relative paths: every command runs inside the work folder
        pip = [f"{VENV}/bin/python", "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
        if wheels:
            notice(f"pushing {len(wheels)} wheels")
            pushed = connection.push(wheels)
            links = sorted({remote.rsplit("/", 1)[0] for remote in pushed.remote.values()})
            pip += ["--no-index", *[arg for link in links for arg in ("--find-links", link)]]
        notice(f"creating {device.workdir}/{VENV}")
        _remote(connection, [base_python, "-m", "venv", VENV], "creating the venv")
        notice("installing " + " ".join(requirements) + (" (offline)" if wheels else " with the board's pip"))
        _remote(connection, [*pip, *requirements], "pip install", timeout=1800)
    python = f"{device.workdir.rstrip('/')}/{VENV}/bin/python"
    return hello(replace(device, python=python), accept_new_host)


def _remote(connection: Connection, argv: list[str], doing: str, timeout: float = 300) -> None:
    done = connection.run(argv, timeout=timeout)
    if done.status == 127:
        raise RuntimeMissing(f"{connection.name}: {argv[0]} is not on the board", hint="install python3 there")
    if not done.ok:
        last = (done.stderr.strip() or done.stdout.strip() or f"status {done.status}").splitlines()[-1]
        hint = (
            "install python3-venv on the board (sudo apt install python3-venv)" if "ensurepip" in done.stderr else None
        )
        raise DeviceError(f"{connection.name}: {doing} failed: {last}", hint=hint)
