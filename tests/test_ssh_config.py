"""ssh_config as OpenSSH reads it, against real sshds: edgedq reaches a board exactly when ``ssh`` does.

For each case of the corpus, ``ssh -o BatchMode=yes ALIAS true`` and ``edgedq devices check ALIAS`` run on a Pi
owner's machine: a home whose ``~/.ssh`` holds the config, made this user's passwd home for both with nss_wrapper
(OpenSSH takes ``~`` from the passwd database, not from $HOME).  Each side gets its own copy of the home, so
what ssh records (accept-new) cannot help edgedq.  A refusal must be edgedq's one line and hint, with its exit code.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edgedq.device import connect
from edgedq.device.inventory import Device
from edgedq.errors import ConnectionFailed, ExitCode
from edgedq.testing.netns import make_netns_board
from edgedq.testing.sshd import keygen, make_sshd
from tests.support import DEVICE_PYTHON, ROOT
from tests.support.cli import run, run_json

pytestmark = pytest.mark.ssh
NSS_WRAPPER = next(Path("/usr/lib").glob("*/libnss_wrapper.so"), None)


@dataclass
class Machine:
    """One owner's machine: ``home`` is their passwd home (for ssh, edgedq and the ssh they start)."""

    folder: Path
    home: Path
    env: dict[str, str]

    def ssh(self, alias: str) -> subprocess.CompletedProcess[str]:
        argv = ["ssh", "-o", "BatchMode=yes", alias, "true"]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    def check(self, alias: str, *flags: str, **inventory: object) -> subprocess.CompletedProcess[str]:
        """``edgedq devices check ALIAS --json``, the inventory naming only the alias (and ``inventory``)."""
        entry = {"host": alias, "python": str(DEVICE_PYTHON), "workdir": str(self.folder / "workdir"), **inventory}
        (self.folder / "inventory.yaml").write_text(json.dumps({"devices": {alias: entry}}))
        argv = [sys.executable, "-m", "edgedq.cli", "devices", "check", alias, "--json", *flags]
        argv += ["--inventory", str(self.folder / "inventory.yaml")]
        return subprocess.run(argv, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def owner(tmp_path, sshd):
    """Builds a Machine from files (paths and texts are templates: {port} {user} {key} {known} {home}...)."""
    if NSS_WRAPPER is None:
        pytest.skip("libnss-wrapper is not installed (make apt)")
    other_key = keygen(tmp_path / "stranger")
    values = {
        "port": sshd.port,
        "user": sshd.user,
        "key": sshd.client_key,
        "key_text": sshd.client_key.read_text(),
        "other_key": other_key,
        "known": sshd.known_hosts_line(),
        "host_key": " ".join(sshd.host_key.with_suffix(".pub").read_text().split()[:2]),
    }

    def build(name: str, files: dict[str, str], env: dict[str, str] | None = None, **more: object) -> Machine:
        folder = next(tmp_path / f"{name}{n}" for n in range(100) if not (tmp_path / f"{name}{n}").exists())
        home = folder / "home"
        (home / ".ssh").mkdir(parents=True, mode=0o700)
        filled = {**values, **more, "home": home}
        for path, text in files.items():
            target = home / path.format(**filled)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            target.write_text(text.format(**filled))
            target.chmod(0o600)  # ssh ignores private keys (and configs) others can read or write
        user, group = pwd.getpwuid(os.getuid()), grp.getgrgid(os.getgid())
        (folder / "passwd").write_text(f"{user.pw_name}:x:{user.pw_uid}:{user.pw_gid}:owner:{home}:/bin/sh\n")
        (folder / "group").write_text(f"{group.gr_name}:x:{group.gr_gid}:\n")
        base = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
        wrapped = {"LD_PRELOAD": str(NSS_WRAPPER), "NSS_WRAPPER_PASSWD": str(folder / "passwd"),
                   "NSS_WRAPPER_GROUP": str(folder / "group")}  # fmt: skip
        return Machine(folder, home, {**base, "HOME": str(home), **wrapped, **(env or {})})

    return build


def both(owner, files: dict[str, str], alias: str = "labpi", env: dict[str, str] | None = None, **more: object):
    """ssh and edgedq, each on its own copy of the same machine."""
    by_ssh, by_edgedq = owner("ssh", files, env, **more), owner("edgedq", files, env, **more)
    return by_ssh.ssh(alias), by_edgedq.check(alias), by_ssh, by_edgedq


def same_verdict(ssh, edgedq, reaches: bool, code: int = 0, says: str = "") -> dict:
    """ssh and edgedq both reach the board, or both refuse (edgedq with one error line, a hint and ``code``)."""
    assert (ssh.returncode == 0) is reaches, f"ssh exited {ssh.returncode}: {ssh.stderr}"
    assert "Traceback" not in edgedq.stderr, edgedq.stderr
    if reaches:
        assert edgedq.returncode == 0, edgedq.stderr
        return json.loads(edgedq.stdout)["target"]
    assert edgedq.returncode == code, edgedq.stderr
    lines = [line for line in edgedq.stderr.splitlines() if line.strip()]
    assert [line.split(":")[0] for line in lines] == ["error", "hint"], edgedq.stderr
    assert says in edgedq.stderr, edgedq.stderr
    return {}


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str]
    reaches: bool = True
    code: int = 0
    says: str = ""
    more: dict[str, object] = field(default_factory=dict)


def host(name: str, *lines: str, **board: str) -> str:
    """``Host NAME`` for the test sshd (``board`` replaces HostName, Port, User or IdentityFile), then ``lines``."""
    settings = {"HostName": "127.0.0.1", "Port": "{port}", "User": "{user}", "IdentityFile": "{key}", **board}
    return (
        f"Host {name}\n"
        + "".join(f"  {key} {value}\n" for key, value in settings.items() if value)
        + "".join(f"  {line}\n" for line in lines)
    )


CONFIG, KNOWN_HOSTS = ".ssh/config", ".ssh/known_hosts"
KNOWN = {KNOWN_HOSTS: "{known}"}
TOKENS = host("labpi", "IdentityFile ~/.ssh/keys/%h_%r", IdentityFile="")
CONNECTION, HOST_KEY = ExitCode.CONNECTION, ExitCode.HOST_KEY
CORPUS = [
    Case("include relative, globbed", {CONFIG: "Include config.d/*\n", ".ssh/config.d/10-lab": host("labpi"), **KNOWN}),
    Case("include absolute, globbed", {CONFIG: "Include {home}/lab/*.conf\n", "lab/pi.conf": host("labpi"), **KNOWN}),
    Case("host patterns merged", {CONFIG: "Host lab*\n  User {user}\n  Port {port}\n" + host("labpi", Port="", User="")
                                  + "Host *\n  Port 1\n  User nobody\n", **KNOWN}),
    Case("Match host", {CONFIG: "Host labpi\n  HostName 127.0.0.1\nMatch host 127.0.0.1\n  Port {port}\n"
                        "  User {user}\n  IdentityFile {key}\n", **KNOWN}),
    Case("Match host that does not match", {CONFIG: host("labpi", Port="") + "Match host 192.0.2.9\n  Port {port}\n"
                                            "Host *\n  Port 1\n", **KNOWN}, False, CONNECTION, "connection refused"),
    Case("%h and %r in IdentityFile", {CONFIG: TOKENS, ".ssh/keys/127.0.0.1_{user}": "{key_text}", **KNOWN}),
    Case("%r in IdentityFile, the key stored for another user", {CONFIG: TOKENS, ".ssh/keys/127.0.0.1_pi": "{key_text}",
                                                                 **KNOWN}, False, CONNECTION, "authentication failed"),
    Case("a key the board does not know", {CONFIG: host("labpi", IdentityFile="{other_key}"), **KNOWN}, False,
         CONNECTION, "authentication failed"),
    Case("UserKnownHostsFile", {CONFIG: host("labpi", "UserKnownHostsFile ~/.ssh/lab_known_hosts"),
                                ".ssh/lab_known_hosts": "{known}", KNOWN_HOSTS: ""}),
    Case("UserKnownHostsFile replaces ~/.ssh/known_hosts", {CONFIG: host("labpi", "UserKnownHostsFile ~/.ssh/lab"),
                                                            ".ssh/lab": "", **KNOWN}, False, HOST_KEY, "not a known"),
    Case("several known_hosts files, global too", {CONFIG: host("labpi", "UserKnownHostsFile ~/.ssh/a ~/.ssh/b",
                                                                "GlobalKnownHostsFile {home}/etc/lab_hosts"),
                                                   ".ssh/a": "", "etc/lab_hosts": "{known}"}),
    Case("unknown host, StrictHostKeyChecking ask", {CONFIG: host("labpi")}, False, HOST_KEY, "--accept-new-host"),
    Case("unknown host, StrictHostKeyChecking no", {CONFIG: host("labpi", "StrictHostKeyChecking no",
                                                                 "UserKnownHostsFile /dev/null")}),
    Case("HostKeyAlias", {CONFIG: host("labpi", "HostKeyAlias labboard"), KNOWN_HOSTS: "labboard {host_key}\n"}),
    Case("HostKeyAlias, the key known by address only", {CONFIG: host("labpi", "HostKeyAlias labboard"), **KNOWN},
         False, HOST_KEY, "labboard is not a known host"),
    Case("ProxyCommand nc %h %p", {CONFIG: host("labpi", "ProxyCommand nc %h %p"), **KNOWN}),
    Case("ProxyCommand, the only way there", {CONFIG: host("labpi", "ProxyCommand nc 127.0.0.1 %p",
                                                           HostName="labpi.invalid"),
                                              KNOWN_HOSTS: "[labpi.invalid]:{port} {host_key}\n"}),
    Case("ProxyCommand that fails", {CONFIG: host("labpi", "ProxyCommand nc 127.0.0.1 1"), **KNOWN}, False, CONNECTION,
         "the ProxyCommand 'nc 127.0.0.1 1' ended"),
    Case("ConnectTimeout on a silent port", {CONFIG: host("labpi", "ConnectTimeout 1", Port="{silent}")}, False,
         CONNECTION, "no SSH answer within 1 s"),
    Case("a line ssh does not know", {CONFIG: host("labpi", "Bogus yes"), **KNOWN}, False, ExitCode.DEVICE,
         "Bad configuration option: bogus"),
    Case("an unknown token in IdentityFile", {CONFIG: host("labpi", IdentityFile="~/.ssh/%q"), **KNOWN}, False,
         ExitCode.DEVICE, "unknown token %q"),
]  # fmt: skip


@pytest.fixture(scope="module")
def silent_port():
    """A port that accepts connections and never speaks (never accepted: the kernel completes the handshake)."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_corpus(case, owner, silent_port):
    ssh, edgedq, _, _ = both(owner, case.files, silent=silent_port, **case.more)
    same_verdict(ssh, edgedq, case.reaches, case.code, case.says)


def test_accept_new_records_the_key_once_as_ssh_does(owner, sshd):
    files = {CONFIG: host("labpi", "StrictHostKeyChecking accept-new", "HashKnownHosts yes")}
    ssh, edgedq, by_ssh, by_edgedq = both(owner, files)
    same_verdict(ssh, edgedq, reaches=True)
    recorded = {side: (machine.home / ".ssh" / "known_hosts").read_text().splitlines() for side, machine in
                (("ssh", by_ssh), ("edgedq", by_edgedq))}  # fmt: skip
    host_key = sshd.host_key.with_suffix(".pub").read_text().split()[1]
    for lines in recorded.values():  # one line, hashed (|1|salt|hash), with the board's key
        assert len(lines) == 1 and lines[0].startswith("|1|") and host_key in lines[0]
    assert by_edgedq.check("labpi").returncode == 0
    assert (by_edgedq.home / ".ssh" / "known_hosts").read_text().splitlines() == recorded["edgedq"]


def test_a_changed_key_is_refused_even_where_ssh_goes_on(owner, sshd, tmp_path):
    """StrictHostKeyChecking no: ssh connects to a host whose key CHANGED (with logins limited); edgedq, about to
    run code there, refuses it as it always does."""
    impostor = keygen(tmp_path / "impostor")
    files = {CONFIG: host("labpi", "StrictHostKeyChecking no"), KNOWN_HOSTS: sshd.known_hosts_line(impostor)}
    ssh, edgedq, _, _ = both(owner, files)
    assert ssh.returncode == 0 and "HOST IDENTIFICATION HAS CHANGED" in ssh.stderr, ssh.stderr
    assert edgedq.returncode == ExitCode.HOST_KEY and "CHANGED" in edgedq.stderr, edgedq.stderr


def test_devices_check_json_says_where_each_value_came_from(owner, sshd):
    lab = host("labpi", "ServerAliveInterval 2", "ServerAliveCountMax 4", Port="1")
    files = {CONFIG: "Include config.d/*\n", ".ssh/config.d/lab": lab, **KNOWN}
    result = owner("edgedq", files).check("labpi", port=sshd.port)
    assert result.returncode == 0, result.stderr
    target = json.loads(result.stdout)["target"]
    assert (target["resolver"], target["host"], target["port"], target["user"]) == ("ssh -G", "127.0.0.1", sshd.port,
                                                                                   sshd.user)  # fmt: skip
    assert target["keys_tried"] == [{"key": str(sshd.client_key), "result": "accepted"}]
    assert target["server_alive"] == {"interval": 2.0, "count": 4} and target["connect_timeout"] == 10.0
    sources = target["sources"]
    assert sources["host"] == sources["identity_files"] == sources["server_alive_interval"] == "ssh -G"
    assert sources["port"] == "inventory" and sources["connect_timeout"] == "default"


# -- the agent, IdentityAgent and IdentitiesOnly --------------------------------------------------------------
@pytest.fixture
def agent(tmp_path, sshd):
    """An ssh-agent on a socket of its own, holding the board's client key."""
    sock = tmp_path / "agent.sock"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    subprocess.run(["ssh-add", "-q", str(sshd.client_key)], check=True, env={**os.environ, "SSH_AUTH_SOCK": str(sock)})
    yield sock
    process.terminate()
    process.wait()


@pytest.mark.parametrize(
    ("setting", "in_environment", "reaches"),
    [
        ("IdentityAgent {agent}", False, True),  # SSH_AUTH_SOCK unset: only the config names the agent
        ("IdentityAgent none", True, False),  # the environment has an agent, the config says not to use it
        ("IdentityAgent SSH_AUTH_SOCK", True, True),
        ("IdentityFile {other_key}\n  IdentitiesOnly yes", True, False),  # the agent's key is not that file
        ("IdentityFile {other_key}", True, True),
    ],
)
def test_agent_settings(setting, in_environment, reaches, owner, agent):
    files = {CONFIG: host("labpi", setting, IdentityFile=""), **KNOWN}
    env = {"SSH_AUTH_SOCK": str(agent)} if in_environment else None
    ssh, edgedq, _, _ = both(owner, files, env=env, agent=agent)
    same_verdict(ssh, edgedq, reaches, ExitCode.CONNECTION, "authentication failed")


# -- CertificateFile --------------------------------------------------------------------------------------------
def test_certificate_file(owner, tmp_path):
    """A board that trusts a user CA, not the key: only the key with its certificate gets in."""
    ca = keygen(tmp_path / "user_ca")
    server = make_sshd(tmp_path / "ca-sshd", extra_config=f"TrustedUserCAKeys {ca.with_suffix('.pub')}\n")
    try:
        key = keygen(tmp_path / "certified")
        subprocess.run(["ssh-keygen", "-q", "-s", str(ca), "-I", "edgedq-test", "-n", server.user, "-V", "-5m:+1h",
                        str(key.with_suffix(".pub"))], check=True)  # fmt: skip
        certificate = tmp_path / "lab-cert.pub"  # not KEY-cert.pub: only CertificateFile finds it
        Path(f"{key}-cert.pub").rename(certificate)
        config = f"Host labpi\n  HostName 127.0.0.1\n  Port {server.port}\n  User {server.user}\n  IdentityFile {key}\n"
        known = {KNOWN_HOSTS: server.known_hosts_line()}
        ssh, edgedq, _, _ = both(owner, {CONFIG: config + f"  CertificateFile {certificate}\n", **known})
        target = same_verdict(ssh, edgedq, reaches=True)
        assert target["keys_tried"][-1] == {"key": f"{certificate} (certificate)", "result": "accepted"}
        ssh, edgedq, _, _ = both(owner, {CONFIG: config, **known})
        same_verdict(ssh, edgedq, False, ExitCode.CONNECTION, "authentication failed")
    finally:
        server.stop()


# -- ProxyJump: a board only a jump host can reach ------------------------------------------------------------
@pytest.fixture(scope="module")
def hidden(tmp_path_factory):
    """The jump sshd in a network namespace, and the board's sshd in it too, on an address only the namespace
    reaches: its link to this host has no address on this side (the board is started first, while it has one)."""
    folder = tmp_path_factory.mktemp("hidden")
    netns = make_netns_board(folder / "jump", links=2)
    try:
        board = make_sshd(folder / "board", host=netns.address(1), listen=(netns.address(1),),
                          prefix=("ip", "netns", "exec", netns.name))  # fmt: skip
    except BaseException:
        netns.stop()
        raise
    subprocess.run(["ip", "addr", "flush", "dev", netns.links[1]], check=True)
    yield netns, board
    board.stop()
    netns.stop()


JUMP_CONFIG = (
    host("jump", HostName="{jump_host}", Port="{jump_port}", IdentityFile="{jump_key}")
    + host("first")
    + host(
        "hidden hidden-direct hidden-by-chain",
        "ConnectTimeout 3",
        HostName="{hidden_host}",
        Port="{hidden_port}",
        IdentityFile="{hidden_key}",
    )  # fmt: skip
    + "Host hidden\n  ProxyJump jump\nHost hidden-by-chain\n  ProxyJump first,jump\n"
)


@pytest.mark.parametrize(
    ("alias", "jump_known", "reaches", "code", "says"),
    [
        ("hidden", True, True, 0, ""),
        ("hidden-direct", True, False, ExitCode.CONNECTION, "hidden"),  # the premise: no way there but the jump
        ("hidden-by-chain", True, True, 0, ""),
        ("hidden", False, False, ExitCode.HOST_KEY, "jump host"),  # the jump host's key is unknown
    ],
)
def test_proxy_jump(alias, jump_known, reaches, code, says, owner, hidden, sshd):
    netns, board = hidden
    jump = netns.sshd
    known = board.known_hosts_line() + sshd.known_hosts_line() + (jump.known_hosts_line() if jump_known else "")
    values = {"jump_host": jump.host, "jump_port": jump.port, "jump_key": jump.client_key, "hidden_host": board.host,
              "hidden_port": board.port, "hidden_key": board.client_key}  # fmt: skip
    files = {CONFIG: JUMP_CONFIG, KNOWN_HOSTS: known}
    ssh, edgedq, _, _ = both(owner, files, alias, **values)
    target = same_verdict(ssh, edgedq, reaches, code, says.replace("hidden", f"{board.host}:{board.port}"))
    if reaches:
        hops = [hop["address"] for hop in target["jumps"]]
        first = [f"{sshd.user}@127.0.0.1:{sshd.port}"] if alias == "hidden-by-chain" else []
        assert hops == [*first, f"{jump.user}@{jump.host}:{jump.port}"]
        assert all(hop["keys_tried"][-1]["result"] == "accepted" for hop in target["jumps"])


def test_a_proxy_jump_loop_is_named(owner):
    files = {CONFIG: "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n"}
    result = owner("edgedq", files).check("a")
    assert result.returncode == ExitCode.DEVICE and "ProxyJump loop" in result.stderr, result.stderr


# -- ServerAlive from ssh_config feeds the keepalives -----------------------------------------------------------
def test_server_alive_from_ssh_config_gives_a_dead_link_up_sooner(tmp_path, monkeypatch):
    netns = make_netns_board(tmp_path / "sshd", links=1)
    try:
        home = tmp_path / "home"
        (home / ".ssh").mkdir(parents=True)
        server = netns.sshd
        (home / ".ssh" / "known_hosts").write_text(server.known_hosts_line())
        (home / ".ssh" / "config").write_text(
            f"Host cutpi\n  HostName {server.host}\n  Port {server.port}\n  User {server.user}\n"
            f"  IdentityFile {server.client_key}\n  ServerAliveInterval 1\n  ServerAliveCountMax 2\n"
        )
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
        with connect(Device("cutpi", host="cutpi", workdir=str(tmp_path / "workdir"))) as connection:
            assert connection.run(["true"]).ok
            netns.link_down(0)
            cut = time.monotonic()
            with pytest.raises(ConnectionFailed, match=r"nothing from it for 2 s"):
                connection.run(["sleep", "1"], timeout=60)
            assert time.monotonic() - cut < 6  # 2 s of silence, not the default 15
    finally:
        netns.stop()


# -- no ssh binary: paramiko's parser, and said so ---------------------------------------------------------------
def test_without_an_ssh_binary_paramiko_reads_the_config_and_says_so(board, sshd, tmp_path, monkeypatch):
    ssh_dir = board.home / ".ssh"
    (ssh_dir / "config").write_text(
        f"Host lab*\n  User {sshd.user}\n  Port {sshd.port}\nHost labpi\n  HostName 127.0.0.1\n"
        f"  IdentityFile {sshd.client_key}\n"
    )
    monkeypatch.setenv("PATH", str(tmp_path / "no-ssh-here"))
    assert shutil.which("ssh") is None
    board.write(host="labpi", port=None, user=None, identity_file=None)
    target = run_json("devices", "check", "board", "--inventory", board.inventory)["target"]
    assert target["resolver"] == "paramiko" and target["sources"]["port"] == "paramiko"
    (ssh_dir / "config").write_text("Include config.d/*\n")
    (ssh_dir / "config.d").mkdir()
    (ssh_dir / "config.d" / "lab").write_text(f"Host labpi\n  HostName 127.0.0.1\n  Port {sshd.port}\n")
    result = run("devices", "check", "board", "--inventory", board.inventory)
    assert result.exit_code == ExitCode.CONNECTION and "cannot resolve host name 'labpi'" in result.stderr
    assert "paramiko" in result.stderr and "Include" in result.stderr
