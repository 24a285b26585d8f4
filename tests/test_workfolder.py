"""The board's work folder decision by decision, against real sshds: uploads in batches with their progress and
report, login noise (kept once, 50 lines at most), the lock on a board that is silent or has no flock(1), and
what a refused upload leaves."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from edgedq.device import connect
from edgedq.device.ssh.client import SSHClient
from edgedq.device.ssh.workfolder import OFFERS_AT_ONCE, WorkFolder
from edgedq.errors import ConnectionFailed, DeviceError, DeviceStorageError
from edgedq.testing.sshd import make_sshd

pytestmark = pytest.mark.ssh


def test_a_stored_name_is_the_files_own_only_when_it_is_plain():
    digest = "ab" * 32
    names = {
        "model.tflite": "model.tflite",
        "mod\udcffel.tflite": "file.tflite",  # not UTF-8 (a byte 0xff, as os.fsdecode gives it)
        "modèle.tflite": "file.tflite",  # not ASCII
        "a\nb.tflite": "file.tflite",  # not printable
        "-rf.tflite": "file.tflite",  # an option to a command
        ".": "file",
        "..": "file",
        "": "file",
    }
    assert {name: WorkFolder.store_path(digest, name) for name in names} == {
        name: f"store/{digest}/{safe}" for name, safe in names.items()
    }


def test_files_are_offered_in_batches_and_only_the_missing_ones_sent(board, tmp_path):
    files = []
    for i in range(OFFERS_AT_ONCE + 2):  # two batches
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(os.urandom(1000 + 100 * i))
        files.append(path)
    sizes = [f.stat().st_size for f in files]
    calls: list[tuple[int, int]] = []
    with connect(board.device()) as connection:
        started = time.perf_counter()
        report = connection.folder.push(files, lambda sent, total: calls.append((sent, total)))
        elapsed = time.perf_counter() - started
        again = connection.folder.push(files, lambda sent, total: calls.append((-sent, -total)))
    assert (report.sent_files, report.skipped_files, report.sent_bytes) == (len(files), 0, sum(sizes))
    assert 0 < report.seconds <= elapsed
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert report.remote[path] == f"store/{digest}/{path.name}"
        assert (board.workdir / report.remote[path]).read_bytes() == path.read_bytes()
    # progress: bytes sent so far, of what the batches offered so far (8 files, then all 10)
    first, everything = sum(sizes[:OFFERS_AT_ONCE]), sum(sizes)
    assert calls[-1] == (everything, everything) and {total for _, total in calls} == {first, everything}
    assert [sent for sent, _ in calls] == sorted({sent for sent, _ in calls}) and all(s <= t for s, t in calls)
    assert (again.sent_files, again.skipped_files, again.sent_bytes) == (0, len(files), 0)


def test_an_upload_that_fits_the_free_space_exactly_goes_and_the_smallest_free_space_counts():
    class Offer:  # what the space check reads of an offer: the free bytes its receiver saw
        def __init__(self, free: int | None) -> None:
            self.free_bytes, self.abandoned = free, False

        def abandon(self) -> None:
            self.abandoned = True

    folder = WorkFolder(SimpleNamespace(device="pi"), "~/edgedq")
    fits = [Offer(100), Offer(None)]
    folder._check_space(fits, 100)
    assert not any(offer.abandoned for offer in fits)
    short = [Offer(200), Offer(100)]
    with pytest.raises(DeviceStorageError, match="has 0.00 MB free"):
        folder._check_space(short, 150)
    assert all(offer.abandoned for offer in short)


def test_a_refused_upload_leaves_nothing_while_the_connection_lasts(board, tmpfs, converted):
    small = tmpfs("small-disk", "size=64k")
    model = converted["cnn"].variant("float32").path  # more than the disk holds
    with connect(board.device(workdir=str(small / "edgedq"))) as connection:
        with pytest.raises(DeviceStorageError, match="MB free"):
            connection.folder.push([model])
        deadline = time.monotonic() + 10  # the receivers were told: they see an empty upload and delete it
        while list((small / "edgedq" / "tmp").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list((small / "edgedq" / "tmp").iterdir()) == []


@pytest.fixture
def board_saying(board, tmp_path):
    """The board behind another sshd whose every session runs ``command`` (a shell snippet) first."""
    servers = []

    def start(command: str):
        server = make_sshd(tmp_path / f"sshd-{len(servers)}", extra_config=f"ForceCommand {command}\n")
        servers.append(server)
        (board.home / ".ssh" / "known_hosts").write_text(server.known_hosts_line())
        board.sshd = server
        return board.device(identity_file=str(server.client_key))

    yield start
    for server in servers:
        server.stop()


def test_login_noise_is_kept_once_from_the_first_session(board_saying, converted):
    device = board_saying('echo "Welcome, session $$"; eval "$SSH_ORIGINAL_COMMAND"')
    with connect(device) as connection:
        with connection.folder.locked(5):
            first = list(connection.folder.noise)
            connection.folder.push([converted["kws"].variant("dynamic").path])  # other sessions, other greetings
        assert first[0].startswith("Welcome, session ") and len(first) == 1
        assert connection.folder.noise == first


@pytest.mark.parametrize(("lines", "accepted"), [(50, True), (51, False)])
def test_a_board_may_print_50_lines_before_edgedqs_own(lines, accepted, board_saying):
    device = board_saying(f'seq {lines}; eval "$SSH_ORIGINAL_COMMAND"')
    with connect(device) as connection:
        if accepted:
            with connection.folder.locked(5):
                assert connection.folder.noise == [str(n) for n in range(1, lines + 1)]
        else:
            with pytest.raises(DeviceError, match="printed 50\\+ lines"), connection.folder.locked(5):
                pass


def test_taking_the_lock_of_a_board_that_says_nothing_gives_up(board_saying, monkeypatch):
    monkeypatch.setattr(SSHClient, "io_timeout", 1.0)
    device = board_saying("sleep 20")
    with connect(device) as connection:
        started = time.monotonic()
        silent = pytest.raises(ConnectionFailed, match="no answer for 1 s while taking the board's lock")
        with silent, connection.folder.locked(0):
            pass
        assert time.monotonic() - started < 10


def test_a_board_without_flock_says_what_to_install(board_saying, tmp_path):
    tools = tmp_path / "no-flock-bin"  # every command of the machine but flock
    tools.mkdir()
    for folder in ("/usr/bin", "/bin", "/usr/sbin"):
        for entry in Path(folder).iterdir():
            if entry.name != "flock" and not (tools / entry.name).exists():
                (tools / entry.name).symlink_to(entry)
    device = board_saying(f'PATH={tools}; export PATH; eval "$SSH_ORIGINAL_COMMAND"')
    refused = pytest.raises(DeviceError, match="has no flock")
    with connect(device) as connection, refused as raised, connection.folder.locked(0):
        pass
    assert raised.value.hint == "install util-linux on it"


def test_the_heartbeat_keeps_the_lock_past_its_lease_and_the_end_of_the_block_frees_it(board, monkeypatch):
    monkeypatch.setattr("edgedq.device.ssh.workfolder.LEASE_S", 3.0)  # the board frees a silent holder's lock in 3 s
    waits: list[str] = []
    with connect(board.device()) as holder, connect(board.device()) as other:
        with holder.folder.locked(0):
            part = Path(holder.folder.root, "tmp", f"model.{holder.folder.session}.1.part")  # an upload cut short
            part.write_bytes(b"half")
            time.sleep(4)  # more than a lease
            assert other.folder._try_lock(0) is None  # still held: the heartbeats renewed it
            with (
                pytest.raises(DeviceError, match="the board is busy: held by .* pid"),
                other.folder.locked(0, waits.append),
            ):
                pass
            leaving = time.monotonic()
        assert not part.exists()  # the board's clean-up ended before the block did
        assert time.monotonic() - leaving < 1.5  # an EOF ends the lease at once, not the lease's 3 s: ms on a board
        started = time.monotonic()
        with other.folder.locked(5):  # free once the holder's block ended
            assert time.monotonic() - started < 1
    assert len(waits) == 1 and waits[0].startswith("waiting up to 0 s for the board's lock (held by ")


def test_a_lock_file_the_board_cannot_open_is_said_as_flock_says_it(board):
    """``lock`` a link to nowhere: flock(1) is there but fails, and its own words are the error, not "no flock"."""
    board.workdir.mkdir(parents=True)
    (board.workdir / "lock").symlink_to(board.workdir / "no-such-folder" / "lock")
    with (
        connect(board.device()) as connection,
        pytest.raises(DeviceStorageError) as failed,
        connection.folder.locked(0),
    ):
        pass
    assert "taking the lock" in failed.value.message and "flock: cannot open lock file" in failed.value.message


def test_the_heartbeat_ends_with_the_block(board):
    with connect(board.device()) as connection:
        before = set(threading.enumerate())
        with connection.folder.locked(0):
            (beats,) = [t for t in threading.enumerate() if t.name == "edgedq-heartbeat" and t not in before]
        beats.join(timeout=2)  # its next beat would be LEASE_S / 4 = 5 s away
        assert not beats.is_alive()


@pytest.mark.parametrize(
    ("says", "expected"),
    [
        ("echo 'sh: lock: Permission denied' >&2; exit 1", "failed: sh: lock: Permission denied"),  # flock's own 1
        ("exit 3", "failed: status 3"),  # a silent failure is not a busy board
        ("exit 5", "failed: status 5"),  # the unsafe-folder status without the board's words is a plain failure
        ("echo 'edgedq-unsafe / is owned by uid 7' >&2; exit 4", "failed: edgedq-unsafe / is owned by uid 7"),
    ],
)
def test_taking_the_lock_fails_as_the_board_says_not_as_a_busy_board(says, expected, board_saying):
    with (
        connect(board_saying(says)) as connection,
        pytest.raises(DeviceStorageError) as failed,
        connection.folder.locked(0),
    ):
        pass
    assert failed.value.message.endswith(expected) and "taking the lock" in failed.value.message
