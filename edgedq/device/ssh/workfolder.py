"""The board's work folder: a content-addressed store, atomic verified uploads, and a lease-based lock.

Layout below the workdir (nothing edgedq writes on a board is outside it)::

    store/<sha256>/<file name>   verified content; a file is only ever renamed into place, and is trusted
                                 again only after the board re-hashes it
    tmp/                         uploads in flight, named by their session (removed when the session's lease ends)
    lock, lock.owner             flock(1) lock held for a whole run, and who holds it
    venv/                        made by ``edgedq devices setup``

An upload streams into ``tmp/``; the board itself hashes it and renames it into
the store only when the sha256 matches, else deletes it.  The lock is a lease:
this host sends a heartbeat, and when it stops (a crash, a power cut, a network
split) the board ends the session within ``LEASE_S``: it kills what the session
started and removes its partial uploads.  The shell side is in ``scripts``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import paramiko

from edgedq.device.connection import Completed, PushReport, UploadProgress, WaitNotice
from edgedq.device.ssh import scripts
from edgedq.device.ssh.client import SSHClient
from edgedq.device.ssh.offer import Offer
from edgedq.errors import DeviceError, DeviceStorageError
from edgedq.files import sha256_file

OFFERS_AT_ONCE = 8  # sshd allows 10 sessions per connection by default (MaxSessions); one is the lock
LEASE_S = 20.0  # a silent holder loses the lock after this long; heartbeats go every LEASE_S / 4
NOISE_LINES = 50  # more than this before edgedq's own first line is not login noise


class WorkFolder:
    def __init__(self, client: SSHClient, workdir: str) -> None:
        self.client = client
        self.workdir = workdir
        self.session = secrets.token_hex(8)  # names this connection's processes and temp files on the board
        self.root: str | None = None  # the absolute path, once the lock told it
        self.noise: list[str] = []  # what the board's login shell printed before edgedq's output

    @property
    def device(self) -> str:
        return self.client.device

    def script(self, script: str, *args: str, session_env: bool = False) -> list[str]:
        """argv for ``script`` in this work folder; ``session_env`` tags its processes with this session."""
        env = ["env", f"EDGEDQ_SESSION={self.session}"] if session_env else []
        return [*env, "sh", "-c", script, "sh", self.workdir, *args]

    # -- replies -------------------------------------------------------------------------------------------
    def first_line(self, stream: paramiko.ChannelFile, doing: str) -> str | None:
        """edgedq's first line after ``edgedq-begin``; what came before is noise, kept once; None at EOF."""
        noise = []
        while True:
            try:
                raw = stream.readline()
            except TimeoutError:
                raise self.client.silent(doing) from None
            line = raw.decode(errors="replace").rstrip("\n")
            if not raw:
                return None
            if line == scripts.BEGIN:
                break
            noise.append(line)
            if len(noise) > NOISE_LINES:
                raise DeviceError(f"{self.device}: the board printed {NOISE_LINES}+ lines before edgedq's output")
        if noise and not self.noise:
            self.noise = noise
        try:
            return stream.readline().decode(errors="replace").rstrip("\n") or None
        except TimeoutError:
            raise self.client.silent(doing) from None

    def failure(self, status: int, stderr: str, doing: str) -> DeviceStorageError:
        """What a script's non-zero status means: an unsafe work folder, a full disk, or one that is not writable."""
        if status == scripts.UNSAFE_STATUS and "edgedq-unsafe" in stderr:
            reason = stderr.split("edgedq-unsafe", 1)[1].strip().splitlines()[0]
            path = reason.split(" is ")[0]
            return DeviceStorageError(
                f"{self.device}: refusing the work folder {self.root or self.workdir}: {reason}",
                hint=f"chmod go-w {path} (or choose another workdir): edgedq will not run or measure files that "
                "other users could replace, as sshd's StrictModes will not trust such a ~/.ssh",
            )
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else f"status {status}"
        full = "No space left" in stderr
        return DeviceStorageError(
            f"{self.device}: {doing} in {self.root or self.workdir} failed: {reason}",
            hint="free space on the board or point workdir at a bigger disk"
            if full
            else "make the work folder writable by the SSH user, or set another workdir in the inventory",
        )

    def run(self, argv: list[str], timeout: float = 60.0) -> Completed:
        """``argv`` inside the work folder; its stdout without the login noise; an unsafe folder is refused."""
        return self._run_script(scripts.COMMAND, *argv, timeout=timeout, doing=f"running {argv[0]}")

    def _run_script(self, script: str, *args: str, timeout: float, doing: str) -> Completed:
        done = self.client.run(self.script(script, *args), timeout=timeout)
        noise, marker, stdout = done.stdout.partition(scripts.BEGIN + "\n")
        if not marker:
            stdout = noise
        elif noise and not self.noise:
            self.noise = noise.splitlines()
        if done.status == scripts.UNSAFE_STATUS and "edgedq-unsafe" in done.stderr:
            raise self.failure(done.status, done.stderr, doing)
        return Completed(done.status, stdout, done.stderr)

    # -- the lock ------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, wait_s: float, on_wait: WaitNotice | None = None) -> Iterator[None]:
        """Hold the board's lock for the block, sending heartbeats; the lease ends when they stop."""
        channel = self._try_lock(0)
        if channel is None:
            if on_wait:
                on_wait(f"waiting up to {wait_s:.0f} s for the board's lock ({self.lock_owner()})")
            channel = self._try_lock(wait_s)
        if channel is None:
            raise DeviceError(
                f"{self.device}: the board is busy: {self.lock_owner()} has held its lock for over {wait_s:.0f} s",
                hint="wait for that run to end or raise --lock-wait; the lock frees itself when its holder's "
                f"heartbeat stops (within {LEASE_S:.0f} s)",
            )
        stop = threading.Event()
        beats = threading.Thread(target=_heartbeat, args=(channel, stop), daemon=True, name="edgedq-heartbeat")
        beats.start()
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                channel.shutdown_write()  # EOF: the board ends the session's lease now
                channel.status_event.wait(2)
                channel.close()

    def _try_lock(self, wait_s: float) -> paramiko.Channel | None:
        owner = f"{socket.gethostname()} pid {os.getpid()} since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%SZ}"
        args = (f"{wait_s:g}", owner, self.session, f"{LEASE_S:g}")
        channel = self.client.open_command(self.script(scripts.LOCK, *args))
        channel.settimeout(wait_s + self.client.io_timeout)
        first = self.first_line(channel.makefile("rb"), "taking the board's lock") or ""
        if first.startswith("edgedq-locked "):
            self.root = first.removeprefix("edgedq-locked ").strip()
            return channel  # nothing reads it again: the heartbeat only sends, the end waits on its status
        status = self.client.exit_status(channel, "taking the board's lock")
        stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
        channel.close()
        if status == 1 and not stderr.strip():
            return None  # flock timed out
        if status == 127 and "flock" in stderr:
            raise DeviceError(f"{self.device}: the board has no flock(1)", hint="install util-linux on it")
        raise self.failure(status, stderr, "taking the lock")

    def lock_owner(self) -> str:
        done = self.run(["cat", "lock.owner"])
        return f"held by {done.stdout.strip()}" if done.ok and done.stdout.strip() else "held by another session"

    # -- the store -----------------------------------------------------------------------------------------
    @staticmethod
    def store_path(digest: str, name: str) -> str:
        """Where a file lives on the board; a name that is not UTF-8 (or could confuse a shell) becomes 'file'."""
        safe = name if name.isprintable() and name.encode("utf-8", "surrogateescape").isascii() else ""
        if not safe or safe.startswith("-") or safe in (".", ".."):
            safe = "file" + Path(name).suffix.encode("ascii", "ignore").decode()
        return f"store/{digest}/{safe}"

    def push(self, files: list[Path], progress: UploadProgress | None = None) -> PushReport:
        """Make each file present in the store, sending only what is missing; ``progress(sent, total)``.

        Files are offered several at once (one channel each, so one round trip per batch); the board
        answers "have" (after re-hashing its copy) or "send" with its free space, and nothing of a batch is
        sent unless all of it fits.
        """
        started = time.perf_counter()
        wanted = {Path(f): (sha256_file(Path(f)), Path(f).stat().st_size) for f in dict.fromkeys(files)}
        report = PushReport(remote={f: self.store_path(digest, f.name) for f, (digest, _) in wanted.items()})
        sent, total = 0, 0

        def advance(count: int) -> None:
            nonlocal sent
            sent += count
            if progress:
                progress(sent, total)

        names = list(wanted)
        for start in range(0, len(names), OFFERS_AT_ONCE):
            batch = [self.offer(f, wanted[f][0], report.remote[f]) for f in names[start : start + OFFERS_AT_ONCE]]
            for offer in batch:
                offer.read_answer()
            missing = [offer for offer in batch if offer.wanted]
            needed = sum(wanted[offer.local][1] for offer in missing)
            self._check_space(missing, needed)
            total += needed
            for offer in missing:
                offer.send(advance)
            report.sent_files += len(missing)
            report.skipped_files += len(batch) - len(missing)
        report.sent_bytes = sent
        report.seconds = time.perf_counter() - started
        return report

    def _check_space(self, missing: list[Offer], needed: int) -> None:
        free = min((offer.free_bytes for offer in missing if offer.free_bytes is not None), default=None)
        if free is not None and needed > free:
            for offer in missing:
                offer.abandon()
            raise DeviceStorageError(
                f"{self.device}: the work folder {self.workdir} has {free / 1e6:.2f} MB free; "
                f"the upload needs {needed / 1e6:.2f} MB",
                hint="free space on the board (edgedq devices clean NAME) or point workdir at a bigger disk",
            )

    def offer(self, local: Path, digest: str, remote: str) -> Offer:
        """Start the board's receiver for one file; its answer says whether the bytes are wanted."""
        argv = self.script(scripts.RECEIVE, remote, digest, self.session, session_env=True)
        return Offer(self, local, self.client.open_command(argv))

    def clean(self) -> tuple[int, int]:
        """Remove everything stored on the board (call it holding the lock); (files, kB) freed."""
        done = self._run_script(scripts.CLEAN, timeout=600, doing="cleaning the store")
        words = done.stdout.split()
        if not done.ok or words[:1] != ["edgedq-cleaned"]:
            raise self.failure(done.status, done.stderr, "cleaning the store")
        return int(words[2]), int(words[1])


def _heartbeat(channel: paramiko.Channel, stop: threading.Event) -> None:
    """A byte every LEASE_S / 4 keeps the lease; a failed send means the connection is gone (the lease ends)."""
    while not stop.wait(LEASE_S / 4):
        try:
            channel.sendall(b".")
        except (OSError, EOFError, paramiko.SSHException):
            return
