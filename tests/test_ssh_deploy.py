"""edgedq deploy against a real sshd on 127.0.0.1: the store, uploads, the lock, and the faults a board can have."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from edgedq.device import connect
from edgedq.errors import ConnectionFailed, DeviceError, DeviceStorageError, ExitCode
from edgedq.files import sha256_file
from edgedq.measure.bench import BenchOptions, bench
from tests.support.cli import run, run_json
from tests.support.faults import wrapper_python

pytestmark = pytest.mark.ssh


def deploy_json(board, source: Path, *extra: object) -> dict:
    return run_json("deploy", source, "--device", board.name, "--inventory", board.inventory, "--runs", 3, *extra)


def test_deploy_end_to_end_then_the_second_sends_nothing(board, sources, converted):
    first = deploy_json(board, sources["dense"])
    (run_,) = first["devices"]
    assert run_["error"] is None
    assert [Path(r["model"]).name for r in run_["results"]] == ["dense.float32.tflite", "dense.dynamic.tflite"]
    for result in run_["results"]:
        assert result["error"] is None and len(result["samples_ms"]) >= 3
        assert result["device_facts"]["python_executable"].startswith(str(Path(board.entry()["python"]).parent.parent))
        assert result["latency_ms"]["p50"] > 0 and result["memory_mb"]["peak_rss"] > 0
    assert run_["push"]["sent_files"] == 3 and run_["push"]["skipped_files"] == 0  # agent + two variants
    # on the board: each file under store/<its sha256>/<its name>, nothing in tmp/
    for local, remote in run_["push"]["remote"].items():
        data = (board.workdir / remote).read_bytes()
        assert data == Path(local).read_bytes()
        assert remote == f"store/{hashlib.sha256(data).hexdigest()}/{Path(local).name}"
    assert not list((board.workdir / "tmp").iterdir())
    recorded = run_json("history", "--device", "board")["configurations"]
    assert {r["run_id"] for r in recorded} == {first["run"]} and len(recorded) == 2  # the run is in the store

    second = deploy_json(board, sources["dense"])
    push = second["devices"][0]["push"]
    assert push["sent_files"] == 0 and push["sent_bytes"] == 0 and push["skipped_files"] == 3


def test_deploy_table_compares_variants(board, sources, converted):
    result = run("deploy", sources["dense"], "--device", "board", "--inventory", board.inventory, "--runs", "3")
    assert result.exit_code == 0, result.output
    assert "dense.float32.tflite" in result.stdout and "dense.dynamic.tflite" in result.stdout
    assert "1.00x" in result.stdout  # float32 is the baseline of the speedup column
    assert "recorded as run" in result.stderr


def test_bench_works_against_a_board(board, converted):
    model = converted["kws"].variant("dynamic").path
    data = run_json("bench", model, "--device", "board", "--inventory", board.inventory, "--runs", 3)
    (result,) = data["results"]
    assert result["device"] == "board" and result["error"] is None
    assert result["model_sha256"] == sha256_file(model) and len(result["samples_ms"]) == 3
    assert result["latency_ms"]["min"] == min(result["samples_ms"]) > 0
    assert list(result["input_shapes"].values()) == [[1, 49, 10, 1]]  # what the board really ran
    assert result["device_facts"]["python"] and result["runtime"]["name"] in ("ai_edge_litert", "tflite_runtime")
    measured = board.workdir / "store" / result["model_sha256"] / model.name  # measured from the board's store
    assert measured.read_bytes() == model.read_bytes()


def test_deploy_by_tag_runs_boards_in_parallel(board, sources, converted, tmp_path):
    entries = {
        "left": board.entry(workdir=str(tmp_path / "left"), tags=["lab"]),
        "right": board.entry(workdir=str(tmp_path / "right"), tags=["lab"]),
    }
    board.inventory.write_text(json.dumps({"devices": entries}))
    data = run_json("deploy", sources["dense"], "--tag", "lab", "--inventory", board.inventory, "--runs", 3)
    assert sorted(d["device"] for d in data["devices"]) == ["left", "right"]
    for device in data["devices"]:
        assert device["error"] is None
        assert [Path(r["model"]).name for r in device["results"]] == ["dense.float32.tflite", "dense.dynamic.tflite"]
        for result in device["results"]:  # each board measured from its own work folder
            assert (tmp_path / device["device"] / "store" / result["model_sha256"]).is_dir()


def test_the_board_refuses_an_upload_whose_hash_differs(board, tmp_path):
    payload = tmp_path / "model.tflite"
    payload.write_bytes(os.urandom(100_000))
    with connect(board.device()) as connection:
        wrong = "0" * 64  # announces the wrong hash
        offer = connection.folder.offer(payload, wrong, connection.folder.store_path(wrong, payload.name))
        offer.read_answer()
        assert offer.wanted
        with pytest.raises(DeviceError, match="arrived corrupted"):
            offer.send(lambda _n: None)
    assert board.files() == []  # neither in the store nor left in tmp/


def test_connection_lost_mid_upload_leaves_nothing_and_a_later_deploy_works(board, sshd, tmp_path):
    big = tmp_path / "big.tflite"
    big.write_bytes(os.urandom(14 * 1024 * 1024))

    def cut_at_a_third(sent: int, total: int) -> None:
        if sent > total // 3:
            sshd.kill_sessions()  # the board's side of the connection vanishes, as when the network drops

    with connect(board.device()) as connection, pytest.raises(ConnectionFailed, match="lost while uploading big"):
        connection.push([big], cut_at_a_third)
    deadline = time.monotonic() + 10
    while board.files() and time.monotonic() < deadline:  # the board-side receiver notices EOF and cleans up
        time.sleep(0.1)
    assert board.files() == []
    with connect(board.device()) as connection:
        report = connection.push([big])
    assert report.sent_files == 1 and (board.workdir / report.remote[big]).read_bytes() == big.read_bytes()


def test_lock_makes_a_second_host_wait_and_frees_itself(board):
    with connect(board.device()) as holder, connect(board.device()) as other:
        with holder.hold(5), pytest.raises(DeviceError, match="busy.*pid"), other.hold(1):
            pass
        with other.hold(1):  # released when the first block ended
            pass
        waiting: list[str] = []
        with holder.hold(5):
            released = threading.Timer(1.0, holder.close)  # the holder's connection dies: flock lets go
            released.start()
            with other.hold(20, waiting.append):
                pass
        assert waiting and "held by" in waiting[0]


def test_full_disk_on_the_board(board, tmpfs, converted):
    small = tmpfs("small-disk", "size=64k")
    board.write(workdir=str(small / "edgedq"))
    model = converted["cnn"].variant("float32").path  # ~100 kB: more than the disk holds
    result = run("bench", model, "--device", "board", "--inventory", board.inventory, "--runs", "1")
    assert result.exit_code == ExitCode.DEVICE_STORAGE, result.output
    assert "MB free" in result.stderr and "bigger disk" in result.stderr
    with connect(board.device(workdir=str(small / "edgedq"))) as connection:  # past the free-space check, for real
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
        offer = connection.folder.offer(model, digest, connection.folder.store_path(digest, model.name))
        offer.read_answer()
        with pytest.raises(DeviceStorageError, match="No space left") as full:
            offer.send(lambda _n: None)
    assert full.value.hint == "free space on the board or point workdir at a bigger disk"
    assert board.files(small / "edgedq") == []


def test_read_only_work_folder(board, tmpfs, converted):
    frozen = tmpfs("ro", "ro,size=1m")
    board.write(workdir=str(frozen / "edgedq"))
    result = run("bench", converted["kws"].variant("dynamic").path, "--device", "board", "--inventory", board.inventory)
    assert result.exit_code == ExitCode.DEVICE_STORAGE
    assert "Read-only file system" in result.stderr and "make the work folder writable by the SSH user" in result.stderr


def test_no_python_on_the_board_says_setup(board, converted):
    board.write(python="/nonexistent/python3")
    result = run("bench", converted["kws"].variant("dynamic").path, "--device", "board", "--inventory", board.inventory)
    assert result.exit_code == ExitCode.RUNTIME, result.output
    assert "Python was not found" in result.stderr and "edgedq devices setup board" in result.stderr


def test_no_runtime_on_the_board_says_setup(board, converted, tmp_path):
    bare = tmp_path / "bare-venv"
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(bare)], check=True)
    board.write(python=str(bare / "bin" / "python"))
    result = run("bench", converted["kws"].variant("dynamic").path, "--device", "board", "--inventory", board.inventory)
    assert result.exit_code == ExitCode.RUNTIME and "edgedq devices setup" in result.stderr


def bench_with_fault(board, model, tmp_path, payload: str, timeout: float):
    """One bench on the board whose agent gets ``payload`` injected after 1 s (see tests/faults.py)."""
    python = wrapper_python(tmp_path, payload)
    options = BenchOptions(threads=[1], runs=10**7, max_secs=60, timeout=timeout)
    (result,) = bench([model], board.device(python=str(python)), options).results
    return result, python


def test_agent_crash_on_the_board_is_named(board, converted, tmp_path):
    model = converted["kws"].variant("dynamic").path
    result, _ = bench_with_fault(board, model, tmp_path, "ctypes.string_at(0)", 60)  # a real SIGSEGV
    assert "crashed (SIGSEGV)" in result.error["message"]


def test_hung_agent_on_the_board_is_killed(board, converted, tmp_path):
    model = converted["kws"].variant("dynamic").path
    result, python = bench_with_fault(board, model, tmp_path, "os.kill(os.getpid(), signal.SIGSTOP)", 3)
    assert "sent nothing for 3 s" in result.error["message"]
    agent = python.parent / "fault_agent.py"  # on the agent's own command line (the wrapper execs into it)
    stopped = subprocess.run(["pgrep", "-f", str(agent)], capture_output=True, text=True).stdout.split()
    assert stopped == []  # killed on the board, not left frozen


def test_a_remote_command_that_floods_stderr_does_not_stall(board):
    """4 MB on stderr before any stdout: more than SSH's channel window, so both streams must be read as they come."""
    flood = "head -c 4000000 /dev/zero | tr '\\0' e >&2; echo out"
    with connect(board.device()) as connection:
        done = connection.run(["sh", "-c", flood], timeout=20)
    assert done.status == 0 and done.stdout == "out\n" and len(done.stderr) == 4_000_000
