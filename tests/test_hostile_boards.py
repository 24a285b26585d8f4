"""Boards that lie or are shared with others, against the real sshd: nothing is trusted by name or size."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgedq.device import connect
from edgedq.device.agent import AgentClient
from edgedq.errors import AgentError, ExitCode
from edgedq.measure.events import no_events
from edgedq.measure.runner import AgentRunner
from edgedq.testing.sshd import keygen, make_sshd
from tests.support.cli import run, run_json

pytestmark = pytest.mark.ssh


def deploy_json(board, source: Path, *extra: object) -> dict:
    return run_json("deploy", source, "--device", board.name, "--inventory", board.inventory, "--runs", 3, *extra)


def same_size_other_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_model_replaced_in_the_store_is_sent_again_not_measured(board, sources, converted):
    first = deploy_json(board, sources["dense"])["devices"][0]
    dynamic = next(k for k in first["push"]["remote"] if k.endswith("dense.dynamic.tflite"))
    on_board = board.workdir / first["push"]["remote"][dynamic]
    same_size_other_bytes(on_board)
    second = deploy_json(board, sources["dense"])["devices"][0]
    assert second["push"]["sent_files"] == 1 and second["push"]["skipped_files"] == 2
    assert on_board.read_bytes() == Path(dynamic).read_bytes()
    measured = next(r for r in second["results"] if r["model"] == dynamic)
    assert measured["error"] is None and measured["model_sha256"] == hashlib.sha256(on_board.read_bytes()).hexdigest()


def test_an_agent_replaced_in_the_store_never_runs(board, converted, tmp_path):
    model = converted["kws"].variant("dynamic").path
    args = ("bench", model, "--device", board.name, "--inventory", board.inventory, "--runs", 2, "--json")
    pushed = run_json(*args)["push"]["remote"]
    agent = board.workdir / next(v for k, v in pushed.items() if k.endswith(".pyz"))
    marker = tmp_path / "the-impostor-ran"
    impostor = f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n#".encode()
    agent.write_bytes(impostor + b"#" * (agent.stat().st_size - len(impostor)))  # the same size, other code
    again = run_json(*args)
    assert again["push"]["sent_files"] == 1 and again["results"][0]["error"] is None
    assert not marker.exists()


def test_a_file_swapped_after_its_upload_is_refused_by_the_agent_and_the_launcher(board, converted, tmp_path):
    """The gap between the store's check and the load: the agent hashes the model, the launcher the bundle."""
    model = converted["kws"].variant("dynamic").path
    with connect(board.device()) as connection, AgentRunner(connection, [model], 60, no_events) as runner:
        remote = board.workdir / runner.remote(model)
        same_size_other_bytes(remote)
        with pytest.raises(AgentError, match="not the file the host sent") as refused:
            runner.request("bench", {"model": runner.remote(model), "runs": 1}, 60, verify=[model])
        assert refused.value.code == "file_mismatch"
        marker = tmp_path / "the-impostor-ran"
        bundle = board.workdir / runner.remote(runner.agent.path)
        bundle.write_text(f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n")
        with (
            pytest.raises(AgentError, match="exited"),
            AgentClient(connection.start_agent(runner.agent.path), board.name, 30) as client,
        ):
            client.start()
        assert not marker.exists()


@pytest.mark.parametrize(
    ("where", "mode", "owner", "expected"),
    [
        ("workdir", 0o777, None, "writable by others (mode 777)"),
        ("workdir", 0o770, None, "writable by others (mode 770)"),
        ("workdir", 0o1777, None, "writable by others (mode 1777)"),  # sticky as /tmp: fine above it, not for it
        ("parent", 0o777, None, "writable by others (mode 777)"),
        ("workdir", 0o755, 65534, "owned by uid 65534"),
    ],
)
def test_a_work_folder_others_can_write_to_is_refused(where, mode, owner, expected, board, converted, tmp_path):
    parent = tmp_path / "edgedq-unsafe shared"  # the board's own marker word in a path: the reason is read whole
    workdir = parent / "edgedq"
    workdir.mkdir(parents=True)
    target = workdir if where == "workdir" else parent
    target.chmod(mode)
    if owner is not None:
        os.chown(target, owner, owner)
    board.write(workdir=str(workdir))
    model = converted["kws"].variant("dynamic").path
    result = run("bench", model, "--device", board.name, "--inventory", board.inventory, "--runs", 1)
    assert result.exit_code == ExitCode.DEVICE_STORAGE, result.output
    assert expected in result.stderr and f"chmod go-w {target}" in result.stderr  # the folder to fix, named
    assert not any(workdir.rglob("*.tflite")) and not any(workdir.rglob("*.pyz"))


def test_the_sticky_tmp_above_a_work_folder_is_fine(board, converted):
    """/tmp is world-writable with the sticky bit, as sshd's StrictModes accepts for a home's parents."""
    assert Path("/tmp").stat().st_mode & 0o1777 == 0o1777 and str(board.workdir).startswith("/tmp/")
    model = converted["kws"].variant("dynamic").path
    result = run("bench", model, "--device", board.name, "--inventory", board.inventory, "--runs", 1)
    assert result.exit_code == 0, result.output


# -- known_hosts as OpenSSH reads it -----------------------------------------------------------------------------
def known_hosts(board) -> Path:
    return board.home / ".ssh" / "known_hosts"


def check(board, *extra: object):
    return run("devices", "check", board.name, "--inventory", board.inventory, *extra)


def test_a_revoked_key_is_refused_even_where_another_line_trusts_it(board, sshd):
    line = sshd.known_hosts_line()
    known_hosts(board).write_text(f"@revoked {line}{line}")
    for flags in ((), ("--accept-new-host",)):
        result = check(board, *flags)
        assert result.exit_code == ExitCode.HOST_KEY, result.output
        assert "@revoked" in result.stderr and "refusing" in result.stderr
    assert not board.workdir.exists()


def test_markers_for_other_hosts_are_understood_not_fatal(board, sshd, tmp_path):
    other = keygen(tmp_path / "other").with_suffix(".pub").read_text().split()
    known_hosts(board).write_text(
        f"@revoked otherhost {other[0]} {other[1]}\n@cert-authority *.lab {other[0]} {other[1]}\n"
        f"not-a-valid-line\n{sshd.known_hosts_line()}"
    )
    checked = run_json("devices", "check", board.name, "--inventory", board.inventory)
    assert checked["ready"]


def test_known_hosts_that_is_a_directory_is_named(board):
    known_hosts(board).unlink()
    known_hosts(board).mkdir()
    result = check(board, "--accept-new-host")
    assert result.exit_code == ExitCode.HOST_KEY, result.output
    assert "known_hosts" in result.stderr and "network" not in result.stderr


def test_accepting_a_new_host_into_a_hashed_file_hashes_it_too(board, sshd):
    hashed_line = "|1|c2FsdHNhbHRzYWx0c2FsdHNhbHQ=|aGFzaGhhc2hoYXNoaGFzaGhhc2g= " + " ".join(
        sshd.host_key.with_suffix(".pub").read_text().split()[:2]
    )
    known_hosts(board).write_text(hashed_line + "\n")
    assert check(board, "--accept-new-host").exit_code == 0
    recorded = known_hosts(board).read_text().splitlines()
    assert len(recorded) == 2 and recorded[1].startswith("|1|") and "127.0.0.1" not in recorded[1]
    assert check(board).exit_code == 0  # the hashed line is found again


# -- login noise ---------------------------------------------------------------------------------------------------
@pytest.fixture
def chatty_board(board, tmp_path):
    """A second sshd whose sessions print a greeting on stdout before the command runs, the bytes a ~/.bashrc
    that echoes would print (the test user's real ~/.bashrc is not ours to change, so sshd's ForceCommand says it)."""
    greet = 'ForceCommand echo "Welcome to the lab! Be nice to the boards."; eval "$SSH_ORIGINAL_COMMAND"\n'
    server = make_sshd(tmp_path / "chatty-sshd", extra_config=greet)
    (board.home / ".ssh" / "known_hosts").write_text(server.known_hosts_line())
    board.sshd = server
    board.write(identity_file=str(server.client_key))
    yield board
    server.stop()


def test_login_noise_is_skipped_and_reported(chatty_board, converted):
    with connect(chatty_board.device()) as connection:
        assert connection.client.run(["true"]).stdout.startswith("Welcome to the lab!")  # the noise is real
    facts = run_json("devices", "check", chatty_board.name, "--inventory", chatty_board.inventory)
    assert facts["ready"]
    model = converted["kws"].variant("dynamic").path
    result = run("bench", model, "--device", chatty_board.name, "--inventory", chatty_board.inventory, "--runs", 2)
    assert result.exit_code == 0, result.output
    assert "login shell printed 1 line(s)" in result.stderr and "Welcome to the lab!" in result.stderr


# -- the store's housekeeping --------------------------------------------------------------------------------------
def test_free_space_is_read_right_on_a_disk_whose_name_has_a_space(board, tmpfs, converted):
    disk = tmpfs("disk", "size=50m", source="my board disk")  # df prints "my board disk" as the filesystem
    assert "my board disk" in subprocess.run(["df", "-P", disk], capture_output=True, text=True).stdout
    model = converted["kws"].variant("dynamic").path
    with connect(board.device(workdir=str(disk / "edgedq"))) as connection:
        digest = hashlib.sha256(model.read_bytes()).hexdigest()
        offer = connection.folder.offer(model, digest, connection.folder.store_path(digest, model.name))
        offer.read_answer()
        offer.abandon()
    assert 45e6 < offer.free_bytes <= 50 * 2**20


def test_a_file_name_that_is_not_utf8_is_stored_under_a_safe_name(board, converted, tmp_path):
    odd = tmp_path / os.fsdecode(b"mod\xffel $(touch pwned).tflite")
    shutil.copy(converted["kws"].variant("dynamic").path, odd)
    result = run("bench", odd, "--device", board.name, "--inventory", board.inventory, "--runs", 2, "--json")
    assert result.exit_code == 0, result.output
    (remote,) = [v for k, v in json.loads(result.stdout)["push"]["remote"].items() if k.endswith(".tflite")]
    assert remote.endswith("/file.tflite") and not (board.workdir / "pwned").exists()


def test_devices_clean_empties_the_store(board, converted):
    model = converted["kws"].variant("dynamic").path
    assert run("bench", model, "--device", board.name, "--inventory", board.inventory, "--runs", 1).exit_code == 0
    assert board.files()
    cleaned = run_json("devices", "clean", board.name, "--inventory", board.inventory)
    assert cleaned["files"] == 2 and cleaned["kilobytes"] > 0
    assert board.files() == []


def test_a_huge_file_that_is_not_a_model_is_refused_before_any_upload(board, tmp_path):
    huge = tmp_path / "weights.tflite"
    with open(huge, "wb") as handle:  # 2 GB, sparse: instant to make, and refused from its first bytes
        handle.truncate(2 * 1024**3)
    started = time.monotonic()
    result = run("bench", huge, "--device", board.name, "--inventory", board.inventory)
    assert result.exit_code == ExitCode.BAD_INPUT and "not a TFLite model" in result.stderr, result.output
    assert time.monotonic() - started < 10 and board.files() == []


def test_two_sources_of_one_name_deployed_at_once_each_measure_their_own(board, sources, tmp_path):
    """A/model.h5 and B/model.keras at the same moment: converted variants are addressed by content."""
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    first = shutil.copy(sources["dense"], tmp_path / "A" / "model.h5")
    second = shutil.copy(sources["cnn"], tmp_path / "B" / "model.keras")
    env = {**os.environ, "HOME": str(board.home)}
    command = [sys.executable, "-m", "edgedq.cli", "deploy", "--device", board.name, "--inventory",
               str(board.inventory), "--runs", "3", "--threads", "1", "--json"]  # fmt: skip
    runs = {
        source.parent.name: subprocess.Popen([*command, str(source)], env=env, stdout=subprocess.PIPE, text=True)
        for source in (first, second)  # two terminals, one moment
    }
    reports = {name: json.loads(process.communicate(timeout=600)[0]) for name, process in runs.items()}
    for name, report in reports.items():
        (device,) = report["devices"]
        assert device["error"] is None, device
        for result in device["results"]:
            assert result["model_sha256"] == hashlib.sha256(Path(result["model"]).read_bytes()).hexdigest()
            assert f"/{name}/" not in result["model"]  # not the user's folder: edgedq's own, by content
    assert len({r["model"] for rep in reports.values() for r in rep["devices"][0]["results"]}) == 4


# -- text from a board, an inventory or a model is text, never markup ---------------------------------------------
def test_names_and_messages_with_markup_are_shown_as_they_are(board, converted, tmp_path):
    name = "x[/]"
    board.name = name
    board.write()
    listed = run("devices", "list", "--inventory", board.inventory)
    assert listed.exit_code == 0 and name in listed.stdout, listed.output
    model = converted["kws"].variant("dynamic").path
    deployed = run("deploy", model, "--device", name, "--inventory", board.inventory, "--runs", 2)
    assert deployed.exit_code == 0 and "MarkupError" not in deployed.output and name in deployed.stdout
    checked = run("devices", "check", name, "--inventory", board.inventory)
    assert checked.exit_code == 0 and name in checked.stdout, checked.output
    loud = tmp_path / "loud-python"
    loud.write_text("#!/bin/sh\necho '[/] [bold red]not markup[/bold red] [link=x]' >&2\nexit 1\n")
    loud.chmod(0o755)
    board.write(python=str(loud))
    failed = run("bench", model, "--device", name, "--inventory", board.inventory, "--runs", 1)
    assert failed.exit_code == ExitCode.AGENT, failed.output
    assert "[/] [bold red]not markup[/bold red]" in failed.stderr and "MarkupError" not in failed.output
