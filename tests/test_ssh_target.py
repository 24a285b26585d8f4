"""Where an inventory board really lives, decision by decision: the real ``ssh -G`` on an ssh_config written here
(or paramiko's parser where there is no ssh), no connection made; what tests/test_ssh_config.py shows end to end
against sshds, checked field by field."""

from __future__ import annotations

import getpass

import pytest

from edgedq.device.inventory import Device
from edgedq.device.ssh import target as targets
from edgedq.device.ssh.target import parse_spec, resolve_target
from edgedq.errors import DeviceError


@pytest.fixture
def ssh_config(tmp_path, monkeypatch):
    """Writes ``~/.ssh/config`` of a HOME made here (edgedq hands ssh -G that file: its ~ is not ssh's)."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)

    def write(text: str):
        (home / ".ssh" / "config").write_text(text)
        return home

    return write


def resolve(host: str, **fields):
    return resolve_target(Device("pi", host=host, **fields))


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("pi", (None, "pi", None)),
        ("me@pi", ("me", "pi", None)),
        ("me@pi:2222", ("me", "pi", 2222)),
        ("ssh://me@pi:2222", ("me", "pi", 2222)),
        ("a@b@pi", ("a@b", "pi", None)),
        ("[::1]:2222", (None, "::1", 2222)),
        ("me@[fe80::1]:7", ("me", "fe80::1", 7)),
        ("[::1]", (None, "::1", None)),
        ("[::1]:", (None, "::1", None)),
        ("fe80::1", (None, "fe80::1", None)),  # an IPv6 address without brackets has no port
        ("odd]name", (None, "odd]name", None)),  # only a bracketed host is an IPv6 address
    ],
)
def test_a_host_spec_is_read_as_proxyjump_reads_it(spec, parsed):
    assert parse_spec(spec) == parsed


def test_a_port_that_is_not_a_number_is_refused():
    with pytest.raises(DeviceError, match="bad port in 'pi:ssh'"):
        parse_spec("pi:ssh")


@pytest.mark.parametrize("host", [None, ""])  # no host, or an empty one (``host: ""`` in the inventory)
def test_a_device_without_a_host_is_not_an_ssh_device(host):
    with pytest.raises(DeviceError, match="pi is not an SSH device"):
        resolve_target(Device("pi", host=host))


def test_settings_come_from_the_config_and_the_inventory_wins(ssh_config):
    ssh_config(
        "Host labpi\n  HostName 192.0.2.7\n  Port 2200\n  User pi\n  StrictHostKeyChecking accept-new\n"
        "  HashKnownHosts yes\n  ServerAliveInterval 7\n  ServerAliveCountMax 1\n  ConnectTimeout 4\n"
    )
    target = resolve("labpi")
    assert (target.hostname, target.port, target.user, target.alias) == ("192.0.2.7", 2200, "pi", "labpi")
    assert (target.host_keys.name, target.host_keys.strict, target.host_keys.hashed) == (
        "[192.0.2.7]:2200",
        "accept-new",
        True,
    )
    assert (target.timeout, target.alive_interval, target.alive_count) == (4.0, 7.0, 1)
    sources = dict(target.sources)
    assert (sources["user"], sources["port"], sources["host"]) == ("ssh -G", "ssh -G", "ssh -G")
    mine = resolve("labpi", user="me", port=22, connect_timeout=9)
    assert (mine.user, mine.port, mine.timeout, mine.host_keys.name) == ("me", 22, 9.0, "192.0.2.7")
    assert dict(mine.sources)["user"] == "inventory" and dict(mine.sources)["port"] == "inventory"
    assert dict(resolve("me@labpi").sources)["user"] == "inventory"


def test_defaults_where_the_config_says_nothing(ssh_config):
    ssh_config("Host labpi\n  HostName 192.0.2.7\n")
    target = resolve("labpi")
    assert (target.port, target.user, target.host_keys.strict, target.host_keys.hashed) == (
        22,
        getpass.getuser(),
        "yes",
        None,
    )
    assert (target.timeout, target.alive_interval, target.alive_count) == (10.0, 5.0, 3)
    assert dict(resolve("192.0.2.8").sources)["host"] == "inventory"


@pytest.mark.parametrize(("setting", "strict"), [("no", "no"), ("off", "no"), ("ask", "yes"), ("yes", "yes")])
def test_strict_host_key_checking_as_edgedq_applies_it(setting, strict, ssh_config):
    ssh_config(f"Host labpi\n  StrictHostKeyChecking {setting}\n")
    assert resolve("labpi").host_keys.strict == strict


def test_a_host_key_alias_names_the_host_in_known_hosts_and_in_proxy_commands(ssh_config):
    ssh_config(
        "Host aliased\n  HostKeyAlias lab-pi\n  ProxyCommand nc %h %p %k\nHost plain\n  ProxyCommand nc %h %p %k\n"
    )
    aliased, plain = resolve("aliased"), resolve("plain")
    assert (aliased.host_keys.name, aliased.proxy_command) == ("lab-pi", "nc aliased 22 lab-pi")
    assert (plain.host_keys.name, plain.proxy_command) == ("plain", "nc plain 22 plain")


def test_a_proxy_command_keeps_its_variables_for_the_shell(ssh_config):
    ssh_config("Host labpi\n  ProxyCommand nc ${EDGEDQ_TEST_NO_SUCH_VARIABLE} %p\n")
    assert resolve("labpi").proxy_command == "nc ${EDGEDQ_TEST_NO_SUCH_VARIABLE} 22"


@pytest.mark.parametrize(("line", "name"), [("HostName pi;reboot", "pi;reboot"), ("HostName -oEvil", "-oEvil")])
def test_a_name_that_would_go_into_a_proxy_command_unquoted_is_refused(line, name, ssh_config):
    ssh_config(f"Host labpi\n  {line}\n  ProxyCommand nc %h %p\n")
    with pytest.raises(DeviceError, match="would go into the ProxyCommand"):
        resolve("labpi")


def test_a_proxy_jump_chain_is_dialled_first_named_first(ssh_config):
    ssh_config(
        "Host first\n  HostName 192.0.2.1\n  User one\nHost second\n  HostName 192.0.2.2\n  User two\n"
        "Host board\n  HostName 192.0.2.3\n  ProxyJump first,second\n  ProxyCommand nc %h %p\n"
    )
    target = resolve("board")
    assert [(hop.alias, hop.address) for hop in target.jumps] == [
        ("first", "one@192.0.2.1:22"),
        ("second", "two@192.0.2.2:22"),
    ]
    assert target.proxy_command is None  # ProxyJump wins, as in ssh


def test_a_proxy_jump_chain_ends_at_sixteen_hops(ssh_config):
    chain = "".join(f"Host h{n}\n  HostName 192.0.2.{n + 1}\n  ProxyJump h{n + 1}\n" for n in range(16))
    ssh_config(chain + "Host h16\n  HostName 192.0.2.99\n")
    assert len(resolve("h1").jumps) == 15  # 15 jump hosts: resolved
    with pytest.raises(DeviceError, match="ProxyJump loop"):
        resolve("h0")  # 16: refused, as a loop would be


def test_without_an_ssh_binary_the_defaults_are_openssh_s(ssh_config, monkeypatch):
    ssh_config("Host labpi\n  HostName 192.0.2.7\n")
    monkeypatch.setattr("edgedq.device.ssh.sshconfig.shutil.which", lambda name: None)
    target = resolve("labpi")
    assert (target.resolver, target.hostname, target.port, target.user) == (
        "paramiko",
        "192.0.2.7",
        22,
        getpass.getuser(),
    )


def test_the_agent_socket_as_identity_agent_names_it(monkeypatch):
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent.sock")
    monkeypatch.setenv("MY_AGENT", "/run/mine.sock")
    monkeypatch.delenv("EDGEDQ_TEST_NO_AGENT", raising=False)
    cases = {
        None: "/run/agent.sock",
        "SSH_AUTH_SOCK": "/run/agent.sock",
        "none": None,
        "NONE": None,
        "$MY_AGENT": "/run/mine.sock",
        "$EDGEDQ_TEST_NO_AGENT": None,
        "/tmp/a.sock": "/tmp/a.sock",
    }
    assert {value: targets._agent(value) for value in cases} == cases
    monkeypatch.delenv("SSH_AUTH_SOCK")
    assert targets._agent(None) is None


def test_seconds_and_counts_as_ssh_config_writes_them():
    assert [targets._seconds(v) for v in (None, "", "none", "0", "5", "2.5")] == [None, None, None, None, 5.0, 2.5]
    assert [targets._count(v) for v in (None, "", "x", "0", "1", "5")] == [3, 3, 3, 1, 1, 5]
