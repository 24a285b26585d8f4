"""A real OpenSSH ``sshd`` on 127.0.0.1 with its own host key and client key: a throwaway "board".

The tests and ``make bench`` start one (the tests give it the checkout's
``.venv-device`` as the board's Python: numpy + ai-edge-litert, no TensorFlow,
like a provisioned Raspberry Pi); nothing here touches the machine's own sshd or keys.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


@dataclass
class TestSshd:
    folder: Path
    port: int
    host_key: Path
    client_key: Path
    process: subprocess.Popen | None = None
    host: str = "127.0.0.1"  # where clients reach it
    listen: tuple[str, ...] = ("127.0.0.1",)
    prefix: tuple[str, ...] = ()  # e.g. ("ip", "netns", "exec", NAME): where it runs
    extra_config: str = ""  # more sshd_config lines (SetEnv ...)

    @property
    def user(self) -> str:
        import getpass

        return getpass.getuser()

    def known_hosts_line(self, key: Path | None = None, host: str | None = None) -> str:
        """The line ``ssh`` would record for this server (``[127.0.0.1]:port keytype key``)."""
        public = (key or self.host_key).with_suffix(".pub").read_text().split()
        return f"[{host or self.host}]:{self.port} {public[0]} {public[1]}\n"

    def start(self) -> TestSshd:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege-separation folder sshd insists on
        config = self.folder / "sshd_config"
        listen = "".join(f"ListenAddress {address}\n" for address in self.listen)
        config.write_text(
            f"Port {self.port}\n{listen}HostKey {self.host_key}\n"
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}\nPidFile {self.folder / 'sshd.pid'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nMaxStartups 100\nMaxSessions 100\n"
            "Subsystem sftp internal-sftp\nLogLevel ERROR\n" + self.extra_config
        )
        with open(self.folder / "sshd.log", "w") as log:
            self.process = subprocess.Popen(
                [*self.prefix, SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=log
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=1):
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.folder / 'sshd.log').read_text()}")
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening within 10 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.kill_sessions()

    def session_pids(self) -> list[int]:
        """The per-connection sshd children of this server (not the listener)."""
        if not self.process:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in children.read_text().split()]
        return []

    def kill_sessions(self) -> None:
        """Cut every open connection the way a lost network does: the sshd side vanishes."""
        for pid in self.session_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def make_sshd(folder: Path, **settings: object) -> TestSshd:
    """A started sshd with fresh keys; ``settings`` are TestSshd fields (host, listen, prefix, extra_config)."""
    folder.mkdir(parents=True, exist_ok=True)
    host_key = keygen(folder / "host_ed25519")
    client_key = keygen(folder / "client_ed25519")
    (folder / "authorized_keys").write_text(client_key.with_suffix(".pub").read_text())
    return TestSshd(folder, free_port(), host_key, client_key, **settings).start()  # type: ignore[arg-type]


@dataclass
class Board:
    """The test sshd as an inventory device named ``board``; its work folder is a temp folder of the test."""

    sshd: TestSshd
    home: Path
    inventory: Path
    workdir: Path
    python: str = "python3"  # the board's Python (a venv's python is used as it is: not resolved, or it is lost)
    name: str = "board"

    def entry(self, **overrides: object) -> dict[str, object]:
        entry: dict[str, object] = {
            "host": self.sshd.host,
            "port": self.sshd.port,
            "user": self.sshd.user,
            "identity_file": str(self.sshd.client_key),
            "python": self.python,
            "workdir": str(self.workdir),
            "threads": [1],
        }
        entry.update(overrides)
        return {k: v for k, v in entry.items() if v is not None}

    def write(self, **overrides: object) -> Board:
        import json  # JSON is YAML

        self.inventory.write_text(json.dumps({"devices": {self.name: self.entry(**overrides)}}))
        return self

    def device(self, **overrides: object):
        from edgedq.device.inventory import Device

        return Device(self.name, **self.entry(**overrides))  # type: ignore[arg-type]

    def files(self, workdir: Path | None = None) -> list[str]:
        """Model data below the work folder (store/ and tmp/; the lock files aside), to prove what a run left."""
        root = workdir or self.workdir
        if not root.exists():
            return []
        found = (str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        return sorted(f for f in found if not f.startswith("lock"))
