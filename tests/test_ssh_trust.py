"""Reaching a board: host keys, ssh_config, ssh-agent, and each way a connection fails (real sshd and sockets)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from edgedq.errors import ExitCode
from edgedq.testing.sshd import free_port, keygen
from tests.support.cli import run, run_json

pytestmark = pytest.mark.ssh


def check(board, *extra: object):
    return run("devices", "check", board.name, "--inventory", board.inventory, *extra)


def test_check_reports_the_board(board):
    facts = run_json("devices", "check", "board", "--inventory", board.inventory)
    assert facts["ready"] is True and facts["remedy"] is None
    assert facts["facts"]["arch"] == os.uname().machine and facts["facts"]["runtime"]["name"] == "ai_edge_litert"
    assert facts["facts"]["libc"].startswith("glibc")


def test_unknown_host_is_refused_and_nothing_is_written(board):
    (board.home / ".ssh" / "known_hosts").write_text("")
    result = check(board)
    assert result.exit_code == ExitCode.HOST_KEY
    assert "not a known host" in result.stderr and "--accept-new-host" in result.stderr
    assert not board.workdir.exists()


def test_accept_new_host_records_the_key_once(board, sshd):
    known_hosts = board.home / ".ssh" / "known_hosts"
    known_hosts.write_text("")
    assert check(board, "--accept-new-host").exit_code == 0
    recorded = known_hosts.read_text()
    host_key = sshd.host_key.with_suffix(".pub").read_text().split()[1]
    assert f"[127.0.0.1]:{sshd.port}" in recorded and host_key in recorded
    assert check(board).exit_code == 0  # now known: no flag needed
    assert known_hosts.read_text() == recorded


def test_changed_host_key_is_refused_whatever_the_flags(board, sshd, tmp_path):
    impostor = keygen(tmp_path / "other_host_key")
    (board.home / ".ssh" / "known_hosts").write_text(sshd.known_hosts_line(impostor))
    for flags in ((), ("--accept-new-host",)):
        result = check(board, *flags)
        assert result.exit_code == ExitCode.HOST_KEY
        assert "CHANGED" in result.stderr and "ssh-keygen -R" in result.stderr
    assert not board.workdir.exists()


def write_ssh_config(board, sshd, text: str) -> None:
    (board.home / ".ssh" / "config").write_text(text.format(port=sshd.port, user=sshd.user, key=sshd.client_key))


def test_ssh_config_alias_and_proxyjump(board, sshd):
    write_ssh_config(
        board,
        sshd,
        "Host labpi\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n"
        "Host hiddenpi\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {key}\n"
        "  ProxyJump labpi\n",
    )
    for alias, jumps in (("labpi", []), ("hiddenpi", [f"{sshd.user}@127.0.0.1:{sshd.port}"])):
        board.write(host=alias, port=None, user=None, identity_file=None)
        target = run_json("devices", "check", board.name, "--inventory", board.inventory)["target"]
        assert target["resolver"] == "ssh -G" and [hop["address"] for hop in target["jumps"]] == jumps, alias
    # that the jump is really taken is shown by tests/test_ssh_config.py, with a board only the jump host reaches


def test_inventory_overrides_ssh_config(board, sshd):
    write_ssh_config(board, sshd, "Host labpi\n  HostName 127.0.0.1\n  Port 1\n  User nobody\n")
    board.write(host="labpi")  # the inventory's port, user and key win
    assert check(board).exit_code == 0


def test_keys_from_a_running_ssh_agent(board, sshd, tmp_path, monkeypatch):
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        subprocess.run(["ssh-add", "-q", str(sshd.client_key)], check=True, env={**os.environ})
        board.write(identity_file=None)  # no key file anywhere: only the agent has it
        assert check(board).exit_code == 0
    finally:
        agent.terminate()
        agent.wait()


def test_wrong_key_fails_authentication(board, tmp_path):
    board.write(identity_file=str(keygen(tmp_path / "stranger")))
    result = check(board)
    assert result.exit_code == ExitCode.CONNECTION
    assert "authentication failed" in result.stderr and "ssh-copy-id" in result.stderr


def test_missing_identity_file_is_named(board, tmp_path):
    board.write(identity_file=str(tmp_path / "no-such-key"))
    result = check(board)
    assert result.exit_code == ExitCode.DEVICE and "no-such-key does not exist" in result.stderr


def test_dns_failure(board):
    board.write(host="no-such-board.invalid")
    result = check(board)
    assert result.exit_code == ExitCode.CONNECTION and "cannot resolve host name" in result.stderr


def test_connection_refused(board):
    board.write(port=free_port())
    result = check(board)
    assert result.exit_code == ExitCode.CONNECTION and "connection refused" in result.stderr


def test_silent_host_times_out(board):
    """A TCP port that accepts and then says nothing, as a hung or wrong service does."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    try:
        board.write(port=listener.getsockname()[1], connect_timeout=1)
        result = check(board)
        assert result.exit_code == ExitCode.CONNECTION and "no SSH answer within 1 s" in result.stderr
    finally:
        listener.close()
        for conn in accepted:
            conn.close()


def test_unknown_device_for_deploy(board, sources):
    result = run("deploy", sources["dense"], "--device", "pi9", "--inventory", board.inventory)
    assert result.exit_code == ExitCode.DEVICE and "known devices: board, local" in result.stderr


def test_devices_add_and_remove_keep_the_users_comments(tmp_path):
    inventory = tmp_path / "devices.yaml"
    inventory.write_text("# my lab\ndevices:\n  pi5:\n    host: 192.0.2.5  # bench corner\n")
    added = run("devices", "add", "pi4", "--host", "192.0.2.4", "--user", "pi", "--threads", "1,4", "--tag", "lab",
                "--inventory", inventory)  # fmt: skip
    assert added.exit_code == 0, added.output
    text = inventory.read_text()
    assert "# my lab" in text and "# bench corner" in text
    listed = {d["name"]: d for d in run_json("devices", "list", "--inventory", inventory)["devices"]}
    assert listed["pi4"]["threads"] == [1, 4] and listed["pi4"]["tags"] == ["lab"] and listed["pi4"]["user"] == "pi"
    assert run("devices", "remove", "pi4", "--inventory", inventory).exit_code == 0
    assert "pi4" not in json.dumps(run_json("devices", "list", "--inventory", inventory))
    assert "# bench corner" in inventory.read_text()
    missing = run("devices", "remove", "pi4", "--inventory", inventory)
    assert missing.exit_code == ExitCode.DEVICE and "not in" in missing.stderr
