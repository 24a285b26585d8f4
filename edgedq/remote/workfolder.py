"""The board's work folder: a content-addressed store, atomic verified uploads, and a lock.

Layout below the workdir (nothing edgedq writes on a board is outside it)::

    store/<sha256>/<file name>   verified content; a file is only ever renamed into place
    tmp/                         uploads in flight; emptied by the next holder of the lock
    lock, lock.owner             flock(1) lock held for a whole deploy, and who holds it
    venv/                        made by ``edgedq devices setup``

An upload streams into ``tmp/``; the board itself hashes it and renames it into
the store only when the sha256 matches, else deletes it.  Because the board
decides, a connection lost mid-upload leaves no half file in the store, even
though the host never gets to clean up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import paramiko

from edgedq.connection import PushReport, UploadProgress, WaitNotice
from edgedq.errors import DeviceError, DeviceStorageError
from edgedq.remote.session import SSHSession
from edgedq.sources import sha256_file

CHUNK = 64 * 1024  # measured: larger writes make paramiko's channel slower, not faster
Progress = Callable[[int], None]  # bytes just sent

# $1 temp path, $2 final path, $3 expected sha256.  Exit 3: write failed, 4: hash mismatch.
_RECEIVE = r"""tmp=$1 final=$2 want=$3
trap 'rm -f "$tmp"' EXIT
trap 'rm -f "$tmp"; exit 1' HUP INT TERM PIPE
cat > "$tmp" || exit 3
set -- $(sha256sum "$tmp")
[ "$1" = "$want" ] || { echo "sha256 mismatch: the board received $1" >&2; exit 4; }
mkdir -p "${final%/*}" && mv -f "$tmp" "$final"
"""
_SIZES = r"""for f do if [ -f "$f" ]; then wc -c < "$f"; else echo -; fi; done"""
_PREPARE = r"""mkdir -p "$1/store" "$1/tmp" && touch "$1/tmp/.probe" && rm -f "$1/tmp/.probe" """
_HOLD = "echo locked; exec cat >/dev/null"  # holds flock's lock until the host closes stdin or goes away


class WorkFolder:
    def __init__(self, session: SSHSession, workdir: str) -> None:
        self.session = session
        self.root = session.expand(workdir).rstrip("/") or "/"
        self._lock: paramiko.Channel | None = None

    def path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    def _storage_error(self, stderr: str, doing: str) -> DeviceStorageError:
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else "unknown error"
        full = "No space left" in stderr
        return DeviceStorageError(
            f"{self.session.device}: {doing} in {self.root} failed: {reason}",
            hint="free space on the board or point workdir at a bigger disk"
            if full
            else "make the work folder writable by the SSH user, or set another workdir in the inventory",
        )

    def prepare(self) -> None:
        done = self.session.run(["sh", "-c", _PREPARE, "sh", self.root])
        if not done.ok:
            raise self._storage_error(done.stderr, "creating the work folder")

    # -- the lock -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, wait_s: float, on_wait: WaitNotice | None = None) -> Iterator[None]:
        """Hold the board's lock for the block; it frees itself if this host dies (flock + a live channel)."""
        self.prepare()
        channel = self._try_lock(0)
        if channel is None:
            if on_wait:
                on_wait(f"waiting up to {wait_s:.0f} s for the board's lock ({self.lock_owner()})")
            channel = self._try_lock(wait_s)
        if channel is None:
            raise DeviceError(
                f"{self.session.device}: the board is busy: {self.lock_owner()} has held its lock for over "
                f"{wait_s:.0f} s",
                hint="wait for that run to end or raise --lock-wait; the lock frees itself when its session ends",
            )
        self._lock = channel
        try:
            owner = f"{socket.gethostname()} pid {os.getpid()} since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%SZ}"
            self.session.run(["sh", "-c", 'printf "%s\\n" "$2" > "$1"', "sh", self.path("lock.owner"), owner])
            self.clean_partials()
            yield
        finally:
            self._lock = None
            with contextlib.suppress(Exception):
                channel.shutdown_write()
                channel.close()

    def _try_lock(self, wait_s: float) -> paramiko.Channel | None:
        channel = self.session.open_command(["flock", "-w", f"{wait_s:g}", self.path("lock"), "sh", "-c", _HOLD])
        first = channel.makefile("rb").readline()
        if first.strip() == b"locked":
            return channel
        status = channel.recv_exit_status()
        stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
        channel.close()
        if status == 1 and not stderr.strip():
            return None  # flock timed out
        if status == 127:
            raise DeviceError(f"{self.session.device}: the board has no flock(1)", hint="install util-linux on it")
        raise self._storage_error(stderr, "taking the lock")

    def lock_owner(self) -> str:
        done = self.session.run(["cat", self.path("lock.owner")])
        return f"held by {done.stdout.strip()}" if done.ok and done.stdout.strip() else "held by another session"

    def clean_partials(self) -> None:
        """Remove what interrupted uploads left in tmp/ (only safe under the lock: nobody else is uploading)."""
        self.session.run(["sh", "-c", 'rm -rf "$1" && mkdir -p "$1"', "sh", self.path("tmp")])

    # -- the store -----------------------------------------------------------------------------------------
    def store_path(self, digest: str, name: str) -> str:
        return self.path("store", digest, name)

    def remote_sizes(self, paths: list[str]) -> list[int | None]:
        if not paths:
            return []
        done = self.session.check(["sh", "-c", _SIZES, "sh", *paths], "listing the store")
        return [None if line.strip() == "-" else int(line) for line in done.stdout.split()]

    def free_bytes(self) -> int | None:
        done = self.session.run(["df", "-Pk", "--", self.root])
        lines = done.stdout.strip().splitlines()
        with contextlib.suppress(IndexError, ValueError):
            return int(lines[-1].split()[3]) * 1024
        return None

    def push(self, files: list[Path], progress: UploadProgress | None = None) -> PushReport:
        """Make each file present in the store; send only what is missing. ``progress(sent, total)``."""
        started = time.perf_counter()
        report = PushReport()
        wanted = {Path(f): (sha256_file(Path(f)), Path(f).stat().st_size) for f in dict.fromkeys(files)}
        finals = {f: self.store_path(digest, f.name) for f, (digest, _) in wanted.items()}
        sizes = dict(zip(wanted, self.remote_sizes(list(finals.values())), strict=True))
        missing = [f for f in wanted if sizes[f] != wanted[f][1]]
        report.skipped_files = len(wanted) - len(missing)
        total = sum(wanted[f][1] for f in missing)
        free = self.free_bytes()
        if free is not None and total > free:
            raise DeviceStorageError(
                f"{self.session.device}: {self.root} has {free / 1e6:.1f} MB free; "
                f"the upload needs {total / 1e6:.1f} MB",
                hint="free space on the board or point workdir at a bigger disk",
            )
        sent = 0

        def advance(count: int) -> None:
            nonlocal sent
            sent += count
            if progress:
                progress(sent, total)

        for local in missing:
            self.upload(local, wanted[local][0], finals[local], advance)
            report.sent_files += 1
        report.sent_bytes = sent
        report.remote = finals
        report.seconds = time.perf_counter() - started
        return report

    def upload(self, local: Path, digest: str, final: str, progress: Progress) -> None:
        """Stream ``local`` to a temp name; the board checks the sha256 and renames it to ``final``, or deletes it."""
        temp = self.path("tmp", f"{digest[:16]}.{secrets.token_hex(4)}.part")
        channel = self.session.open_command(["sh", "-c", _RECEIVE, "sh", temp, final, digest])
        try:
            with open(local, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    channel.sendall(chunk)
                    progress(len(chunk))
            channel.shutdown_write()
        except (OSError, paramiko.SSHException, EOFError):
            if not channel.status_event.wait(2):  # no answer from the board: the connection is gone
                raise self.session.lost(f"uploading {local.name}") from None
        status = channel.recv_exit_status()
        stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
        channel.close()
        if status == 0:
            return
        if status == 4:
            raise DeviceError(f"{self.session.device}: {local.name} arrived corrupted ({stderr.strip()}); discarded")
        if status == -1:  # the channel closed without a status: the connection went away
            raise self.session.lost(f"uploading {local.name}")
        raise self._storage_error(stderr, f"writing {local.name}")
