"""The board's work folder: a content-addressed store, atomic verified uploads, and a lock.

Layout below the workdir (nothing edgedq writes on a board is outside it)::

    store/<sha256>/<file name>   verified content; a file is only ever renamed into place
    tmp/                         uploads in flight (a receiver deletes its own on any failure; the next
                                 holder of the lock removes any older than 10 minutes, as after a power cut)
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
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import paramiko

from edgedq.device.connection import PushReport, UploadProgress, WaitNotice
from edgedq.device.ssh.client import SSHClient
from edgedq.errors import DeviceError, DeviceStorageError
from edgedq.files import sha256_file

CHUNK = 64 * 1024  # measured: larger writes make paramiko's channel slower, not faster
OFFERS_AT_ONCE = 8  # sshd allows 10 sessions per connection by default (MaxSessions); one is the lock
Progress = Callable[[int], None]  # bytes just sent

# Every script takes the work folder as $1, expands a leading ~ itself (quoted arguments are not expanded, and
# asking the board for $HOME would cost a round trip: each remote command costs ~150 ms of sshd session set-up),
# creates store/ and tmp/, and works from there, so the paths it is given are relative to the work folder.
ENTER = r"""dir=$1; shift
case $dir in "~") dir=$HOME ;; "~/"*) dir=$HOME/${dir#"~/"} ;; esac
mkdir -p "$dir/store" "$dir/tmp" && cd "$dir" || exit 3
"""
# $1 seconds to wait, $2 who we are.  Prints "locked ROOT" and holds the lock until stdin closes (the host ends
# or vanishes).  Under the lock: remove temp files of uploads whose receiver was killed (older than 10 minutes).
_LOCK = (
    ENTER
    + r"""exec flock -w "$1" lock sh -c '
printf "%s\n" "$1" > lock.owner || exit 3
find tmp -type f -mmin +10 -exec rm -f {} + 2>/dev/null
echo "locked $(pwd -P)"
exec cat >/dev/null' sh "$2"
"""
)
# $1 final path, $2 size, $3 sha256.  Answers "have" when the store holds it, else "send FREE_KB" and receives it
# into tmp/, hashes it, and renames it into place only when the hash matches.  Exit 3: write failed, 4: mismatch.
_RECEIVE = (
    ENTER
    + r"""final=$1 size=$2 want=$3 tmp=tmp/${3%"${3#????????????????}"}.$$.part
if [ -f "$final" ] && [ "$(wc -c < "$final")" -eq "$size" ]; then echo have; exit 0; fi
set -- $(df -Pk . | tail -n 1)
echo "send $4"
trap 'rm -f "$tmp"' EXIT
trap 'rm -f "$tmp"; exit 1' HUP INT TERM PIPE
cat > "$tmp" || exit 3
set -- $(sha256sum "$tmp")
[ "$1" = "$want" ] || { echo "sha256 mismatch: the board received $1" >&2; exit 4; }
mkdir -p "${final%/*}" && mv -f "$tmp" "$final"
"""
)


class WorkFolder:
    def __init__(self, client: SSHClient, workdir: str) -> None:
        self.client = client
        self.workdir = workdir
        self.root: str | None = None  # the absolute path, once the lock told it

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` to run inside the work folder (created if needed), for relative paths like store/..."""
        return ["sh", "-c", ENTER + 'exec "$@"', "sh", self.workdir, *argv]

    def _storage_error(self, stderr: str, doing: str) -> DeviceStorageError:
        reason = stderr.strip().splitlines()[-1] if stderr.strip() else "unknown error"
        full = "No space left" in stderr
        return DeviceStorageError(
            f"{self.client.device}: {doing} in {self.root or self.workdir} failed: {reason}",
            hint="free space on the board or point workdir at a bigger disk"
            if full
            else "make the work folder writable by the SSH user, or set another workdir in the inventory",
        )

    # -- the lock -------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, wait_s: float, on_wait: WaitNotice | None = None) -> Iterator[None]:
        """Hold the board's lock for the block; it frees itself if this host dies (flock + a live channel)."""
        channel = self._try_lock(0)
        if channel is None:
            if on_wait:
                on_wait(f"waiting up to {wait_s:.0f} s for the board's lock ({self.lock_owner()})")
            channel = self._try_lock(wait_s)
        if channel is None:
            raise DeviceError(
                f"{self.client.device}: the board is busy: {self.lock_owner()} has held its lock for over "
                f"{wait_s:.0f} s",
                hint="wait for that run to end or raise --lock-wait; the lock frees itself when its session ends",
            )
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                channel.shutdown_write()
                channel.close()

    def _try_lock(self, wait_s: float) -> paramiko.Channel | None:
        owner = f"{socket.gethostname()} pid {os.getpid()} since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%SZ}"
        channel = self.client.open_command(["sh", "-c", _LOCK, "sh", self.workdir, f"{wait_s:g}", owner])
        first = channel.makefile("rb").readline().decode(errors="replace")
        if first.startswith("locked "):
            self.root = first[len("locked ") :].strip()
            return channel
        status = channel.recv_exit_status()
        stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
        channel.close()
        if status == 1 and not stderr.strip():
            return None  # flock timed out
        if status == 127 and "flock" in stderr:
            raise DeviceError(f"{self.client.device}: the board has no flock(1)", hint="install util-linux on it")
        if status == -1:
            raise self.client.lost("taking the board's lock")
        raise self._storage_error(stderr, "taking the lock")

    def lock_owner(self) -> str:
        done = self.client.run(self.command(["cat", "lock.owner"]))
        return f"held by {done.stdout.strip()}" if done.ok and done.stdout.strip() else "held by another session"

    # -- the store -----------------------------------------------------------------------------------------
    @staticmethod
    def store_path(digest: str, name: str) -> str:
        return f"store/{digest}/{name}"

    def push(self, files: list[Path], progress: UploadProgress | None = None) -> PushReport:
        """Make each file present in the store, sending only what is missing; ``progress(sent, total)``.

        Files are offered several at once (one channel each, so one round trip per batch); the board
        answers "have" or "send" with its free space, and nothing of a batch is sent unless all of it fits.
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
            batch = [self.offer(f, *wanted[f]) for f in names[start : start + OFFERS_AT_ONCE]]
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
                f"{self.client.device}: the work folder {self.workdir} has {free / 1e6:.2f} MB free; "
                f"the upload needs {needed / 1e6:.2f} MB",
                hint="free space on the board or point workdir at a bigger disk",
            )

    def offer(self, local: Path, digest: str, size: int) -> Offer:
        """Start the board's receiver for one file; its answer says whether the bytes are wanted."""
        final = self.store_path(digest, local.name)
        channel = self.client.open_command(["sh", "-c", _RECEIVE, "sh", self.workdir, final, str(size), digest])
        return Offer(self, local, channel)


class Offer:
    """One file offered to the board: "have" (nothing to do) or "send" (stream it, the board verifies it)."""

    def __init__(self, folder: WorkFolder, local: Path, channel: paramiko.Channel) -> None:
        self.folder, self.local, self.channel = folder, local, channel
        self.wanted = False
        self.free_bytes: int | None = None

    def read_answer(self) -> None:
        answer = self.channel.makefile("rb").readline().decode(errors="replace").split()
        if not answer:
            self._finish("preparing the store")  # the receiver failed before answering: raises its error
            return
        self.wanted = answer[0] == "send"
        if self.wanted and answer[1:] and answer[1].isdigit():
            self.free_bytes = int(answer[1]) * 1024
        if not self.wanted:
            self.channel.close()

    def abandon(self) -> None:
        """Close without sending: the receiver sees an empty file, its hash check fails, it deletes it."""
        with contextlib.suppress(Exception):
            self.channel.close()

    def send(self, progress: Progress) -> None:
        try:
            with open(self.local, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    self.channel.sendall(chunk)
                    progress(len(chunk))
            self.channel.shutdown_write()
        except (OSError, paramiko.SSHException, EOFError):
            if not self.channel.status_event.wait(2):  # no answer from the board: the connection is gone
                raise self.folder.client.lost(f"uploading {self.local.name}") from None
        self._finish(f"writing {self.local.name}")

    def _finish(self, doing: str) -> None:
        status = self.channel.recv_exit_status()
        stderr = self.channel.makefile_stderr("rb").read().decode(errors="replace")
        self.channel.close()
        device = self.folder.client.device
        if status == 0:
            return
        if status == 4:
            raise DeviceError(f"{device}: {self.local.name} arrived corrupted ({stderr.strip()}); discarded")
        if status == -1:  # the channel closed without a status: the connection went away
            raise self.folder.client.lost(f"uploading {self.local.name}")
        raise self.folder._storage_error(stderr, doing)
