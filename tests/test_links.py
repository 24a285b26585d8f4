"""Links that drop, hosts that vanish, users who press Ctrl-C: nothing hangs, nothing is left on the board.

The board is the real sshd in a network namespace this module creates (edgedq.testing.netns): a link is cut
by taking its board end down, so packets vanish without a reset, as when a cable is pulled or a lab network
splits.  A second link lets another host reach the board meanwhile.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edgedq.device import connect
from edgedq.device.ssh.client import ALIVE_COUNT, ALIVE_INTERVAL
from edgedq.device.ssh.workfolder import LEASE_S
from edgedq.errors import ConnectionFailed, ExitCode
from edgedq.testing.netns import make_netns_board
from edgedq.testing.sshd import Board
from tests.support import DEVICE_PYTHON, ROOT, wait_for
from tests.support.cli import run, run_json
from tests.support.faults import wrapper_python
from tests.support.models import padded_model

pytestmark = pytest.mark.ssh
DEAD_LINK_S = ALIVE_INTERVAL * (ALIVE_COUNT + 1)  # ServerAlive gives a silent link up within this


@pytest.fixture
def netns_board(tmp_path, monkeypatch):
    """The board behind two links (0 and 1), a HOME that trusts it on both, an inventory naming it on link 0."""
    netns = make_netns_board(tmp_path / "sshd", links=2)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    lines = [netns.sshd.known_hosts_line(host=netns.address(link)) for link in (0, 1)]
    (home / ".ssh" / "known_hosts").write_text("".join(lines))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    board = Board(netns.sshd, home, tmp_path / "inventory.yaml", tmp_path / "board-workdir", str(DEVICE_PYTHON))
    board.write()
    yield netns, board
    netns.stop()


@pytest.fixture
def big_model(converted, tmp_path) -> Path:
    return padded_model(converted["kws"].variant("dynamic").path, tmp_path / "big.tflite", 6)


def session_processes(session: str) -> list[int]:
    """Processes on the board (this machine) tagged with a connection's session."""
    pattern = f"EDGEDQ_SESSION={session}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if pattern in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_a_link_that_goes_silent_during_an_upload_is_given_up_in_seconds(netns_board, big_model):
    netns, board = netns_board
    netns.shape(0, "8mbit")  # 6 MB take 6 s: time to cut the link in the middle
    cut: list[float] = []

    def cut_after_a_megabyte(sent: int, total: int) -> None:
        if sent > 1_000_000 and not cut:
            netns.link_down(0)
            cut.append(time.monotonic())

    with connect(board.device()) as connection, pytest.raises(ConnectionFailed, match="lost .nothing from it"):
        connection.push([big_model], cut_after_a_megabyte)
    assert cut and time.monotonic() - cut[0] < DEAD_LINK_S + 5


def test_a_link_that_goes_silent_during_a_bench_gives_the_connection_exit_code(netns_board, converted):
    netns, board = netns_board
    model = converted["kws"].variant("dynamic").path
    threading.Timer(4.0, netns.link_down, args=(0,)).start()
    started = time.monotonic()
    result = run("bench", model, "--device", board.name, "--inventory", board.inventory, "--runs", 10**7,
                 "--max-secs", 120, "--timeout", 15)  # fmt: skip
    assert result.exit_code == ExitCode.CONNECTION, result.output
    assert "lost" in result.stderr and time.monotonic() - started < 4 + 15 + DEAD_LINK_S


def test_a_vanished_holder_loses_the_lock_and_its_leftovers_within_the_lease(netns_board, big_model):
    """Host A takes the lock and starts an upload, then its link dies (no reset, no FIN: a power cut or a split).
    Host B, on the other link, gets the lock within the lease, and A's partial upload and processes are gone."""
    netns, board = netns_board
    netns.shape(0, "4mbit")
    holder = connect(board.device())
    failures: list[BaseException] = []

    def run_holder() -> None:
        try:
            with holder.hold(10):
                holder.push([big_model])
        except ConnectionFailed as error:
            failures.append(error)

    thread = threading.Thread(target=run_holder)
    thread.start()
    assert wait_for(lambda: any((board.workdir / "tmp").glob("*.part")), 20)  # the upload is under way
    session = holder.folder.session
    assert session_processes(session)
    netns.link_down(0)
    cut = time.monotonic()
    waiting: list[str] = []
    with connect(board.device(host=netns.address(1))) as other, other.hold(LEASE_S * 3, waiting.append):
        took = time.monotonic() - cut
        assert waiting and "held by" in waiting[0]
        assert took < LEASE_S + 10, took
        assert not list((board.workdir / "tmp").iterdir()) and session_processes(session) == []
    thread.join(DEAD_LINK_S + 10)
    assert not thread.is_alive() and failures
    holder.close()


def cli(*args: object, env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "edgedq.cli", *map(str, args)]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def interrupt(process: subprocess.Popen, after: float) -> float:
    """Ctrl-C (SIGINT) after ``after`` seconds; how long the command took to stop after it."""
    time.sleep(after)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    process.wait(30)
    return time.monotonic() - sent


def agents(cwd: Path | None = None) -> list[int]:
    """Running agent processes (working in ``cwd``, a board's work folder, when given)."""
    found = subprocess.run(["pgrep", "-f", "edgedq-agent-"], capture_output=True, text=True).stdout.split()
    pids = []
    for pid in map(int, found):
        try:
            if cwd is None or Path(os.readlink(f"/proc/{pid}/cwd")) == cwd:
                pids.append(pid)
        except OSError:
            continue
    return pids


@pytest.mark.parametrize("moment", ["upload", "bench"])
def test_ctrl_c_stops_a_deploy_at_once_and_leaves_the_board_as_it_was(moment, netns_board, big_model):
    netns, board = netns_board
    if moment == "upload":
        netns.shape(0, "4mbit")  # 6 MB: twelve seconds of upload
    env = {**os.environ, "HOME": str(board.home)}
    process = cli("deploy", big_model, "--device", board.name, "--inventory", board.inventory, "--runs", 10**7,
                  "--max-secs", 120, "--threads", 1, env=env)  # fmt: skip
    if moment == "bench":
        assert wait_for(lambda: agents(board.workdir), 30)
    took = interrupt(process, 3 if moment == "upload" else 1)
    assert process.returncode == 130 and "interrupted" in process.stderr.read()
    assert took < 3, took
    assert wait_for(lambda: not agents(board.workdir), 5)
    assert wait_for(lambda: not list((board.workdir / "tmp").glob("*")), 2), "partial uploads left on the board"
    stored = [p for p in (board.workdir / "store").rglob("*") if p.is_file()]
    assert all(p.name.endswith((".pyz", ".tflite")) for p in stored)
    if moment == "upload":
        assert not any(p.name == "big.tflite" for p in stored)
    with connect(board.device()) as other, other.hold(0):  # the lock is free now, not in LEASE_S
        pass
    assert not list(Path(os.environ["EDGEDQ_HOME"]).glob("results/*"))  # an interrupted run saves nothing


def test_ctrl_c_stops_a_bench_on_local_too(converted, tmp_path):
    env = {**os.environ, "EDGEDQ_HOME": str(tmp_path / "home")}
    model = converted["kws"].variant("dynamic").path
    process = cli("bench", model, "--runs", 10**7, "--max-secs", 120, "--threads", 1, env=env)
    assert wait_for(agents, 30)
    started = agents()
    assert interrupt(process, 1) < 3 and process.returncode == 130
    assert wait_for(lambda: not set(started) & set(agents()), 5)


@pytest.mark.parametrize("where", ["local", "board"])
def test_a_hung_agent_behind_a_wrapper_that_does_not_exec_is_killed_whole(
    where, converted, tmp_path, request, monkeypatch
):
    """The board's 'python' is a script that runs python as its child: the timeout kills both."""
    python = wrapper_python(tmp_path, "os.kill(os.getpid(), signal.SIGSTOP)", exec_=False)
    model = converted["kws"].variant("dynamic").path
    if where == "board":
        board = request.getfixturevalue("board")
        board.write(python=str(python))
        args = ("--device", "board", "--inventory", board.inventory)
    else:
        monkeypatch.setenv("EDGEDQ_LOCAL_PYTHON", str(python))
        args = ()
    result = run("bench", model, *args, "--runs", 10**7, "--max-secs", 60, "--timeout", 3, "--threads", 1)
    assert result.exit_code == ExitCode.AGENT and "sent nothing for 3 s" in result.stderr, result.output
    pattern = str(tmp_path / "fault_agent.py")
    assert wait_for(lambda: subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 1, 5)


def test_results_of_one_second_on_devices_of_alike_names_are_all_kept(board, converted, tmp_path):
    entries = {name: board.entry(workdir=str(tmp_path / name.replace(" ", "-"))) for name in ("pi 4", "pi_4")}
    board.inventory.write_text(json.dumps({"devices": entries}))
    model = converted["kws"].variant("dynamic").path
    result = run("deploy", model, "--device", "pi 4,pi_4", "--inventory", board.inventory, "--runs", 2, "--json")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run"]
    devices = {r["device"] for r in run_json("history")["configurations"] if r["run_id"] == run_id}
    assert devices == {"pi 4", "pi_4"}  # one run, both boards kept apart
