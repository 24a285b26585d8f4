"""Host-key decisions one known_hosts file and one key at a time: real files, real keys (ssh-keygen), paramiko's
own client; what the sshd tests (test_ssh_trust.py, test_hostile_boards.py) show end to end, checked line by line."""

from __future__ import annotations

import stat
from pathlib import Path

import paramiko
import pytest

from edgedq.device.ssh.trust import KnownHostsCheck, TrustPolicy, host_key_name, read_known_hosts, record_host_key
from edgedq.errors import HostKeyError
from edgedq.testing.sshd import keygen


@pytest.fixture
def key(tmp_path) -> paramiko.PKey:
    return paramiko.Ed25519Key.from_private_key_file(str(keygen(tmp_path / "host_key")))


def line(name: str, key: paramiko.PKey) -> str:
    return f"{name} {key.get_name()} {key.get_base64()}"


def test_known_hosts_names_a_host_on_port_22_bare_and_any_other_port_in_brackets():
    assert [host_key_name("pi", port) for port in (22, 23, 2222)] == ["pi", "[pi]:23", "[pi]:2222"]


def test_every_line_not_used_is_noted_with_its_line_number(tmp_path, key):
    known = tmp_path / "known_hosts"
    known.write_text(
        "# my boards\n\n"
        f"@cert-authority *.lab {key.get_name()} {key.get_base64()}\n"
        f"@trusted pi {key.get_name()} {key.get_base64()}\n"
        "pi ssh-ed25519 not-base64!\n"
        f"{line('pi', key)}\n"
    )
    hosts = read_known_hosts([known, tmp_path / "missing"])
    assert hosts.notes == [
        f"{known}:3: @cert-authority line skipped (edgedq does not verify host certificates)",
        f"{known}:4: unknown marker @trusted skipped",
        f"{known}:5: unreadable line skipped (InvalidHostKey)",
    ]
    assert list(hosts.known.lookup("pi").values()) == [key]


def policy(tmp_path, strict: str = "yes", accept_new: bool = False, **files) -> TrustPolicy:
    check = KnownHostsCheck("[pi]:2222", files.get("user", (tmp_path / "known_hosts",)), files.get("glob", ()), strict)
    return TrustPolicy(accept_new, "pi", check)


def test_an_unknown_host_is_refused_naming_the_files_that_were_read(tmp_path, key):
    (tmp_path / "known_hosts").write_text("")
    refusing = policy(tmp_path, glob=(tmp_path / "no_such_file",))
    with pytest.raises(HostKeyError) as refused:
        refusing.missing_host_key(paramiko.SSHClient(), "127.0.0.1", key)
    assert f"read {tmp_path / 'known_hosts'})" in refused.value.message
    assert "no_such_file" not in refused.value.message


def test_an_accepted_key_is_recorded_and_known_to_the_client_at_once(tmp_path, key):
    client = paramiko.SSHClient()
    policy(tmp_path, strict="accept-new").missing_host_key(client, "127.0.0.1", key)
    assert list(client.get_host_keys().lookup("[pi]:2222").values()) == [key]
    assert (tmp_path / "known_hosts").read_text() == line("[pi]:2222", key) + "\n"


def test_a_key_recorded_where_no_folder_is_yet_gets_a_private_one(tmp_path, key):
    known = tmp_path / "home" / ".ssh" / "known_hosts"  # neither folder exists
    record_host_key(known, "pi", key)
    assert stat.S_IMODE(known.parent.stat().st_mode) == 0o700
    assert known.read_text() == line("pi", key) + "\n"


def test_a_key_recorded_after_a_last_line_without_newline_gets_a_line_of_its_own(tmp_path, key):
    known = tmp_path / "known_hosts"
    known.write_text(line("other", key))  # no newline at its end, as an editor may leave it
    record_host_key(known, "pi", key)
    assert known.read_text().splitlines() == [line("other", key), line("pi", key)]


def test_a_key_recorded_to_dev_null_is_accepted_and_goes_nowhere(key):
    """UserKnownHostsFile /dev/null with StrictHostKeyChecking no: ssh's way of trusting a throwaway board."""
    record_host_key(Path("/dev/null"), "pi", key)  # not a file to fsync: it must not fail
