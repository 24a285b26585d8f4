"""A lab's fleet: one deploy to six boards (six real sshd), bounded parallelism, one summary, one history entry."""

from __future__ import annotations

import json
import time

import pytest

from edgedq.testing.sshd import make_sshd
from tests.support import DEVICE_PYTHON
from tests.support.cli import run, run_json

pytestmark = pytest.mark.ssh
BOARDS = 6


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleet")
    started = [make_sshd(folder / f"sshd{index}") for index in range(BOARDS)]
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def fleet(servers, tmp_path, monkeypatch):
    """Six boards tagged lab, each its own sshd, key and work folder, all trusted."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text("".join(s.known_hosts_line() for s in servers))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    devices = {
        f"pi{index}": {"host": "127.0.0.1", "port": s.port, "user": s.user, "identity_file": str(s.client_key),
                       "python": str(DEVICE_PYTHON), "workdir": str(tmp_path / f"work{index}"), "threads": [1],
                       "tags": ["lab"]}
        for index, s in enumerate(servers)
    }  # fmt: skip
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(json.dumps({"devices": devices}))
    return inventory


def deploy(inventory, model, *where: object) -> tuple[dict, float]:
    started = time.monotonic()
    report = run_json("deploy", model, *where, "--inventory", inventory, "--runs", 20, "--warmup", 2)
    return report, time.monotonic() - started


def test_six_boards_at_once_then_one_at_a_time(fleet, converted, capsys):
    model = converted["kws"].variant("dynamic").path
    deploy(fleet, model, "--device", "pi0")  # every board's first push is the agent's: warm them all first
    deploy(fleet, model, "--tag", "lab")
    one, one_s = deploy(fleet, model, "--device", "pi0")
    many, many_s = deploy(fleet, model, "--tag", "lab")
    assert sorted(d["device"] for d in many["devices"]) == [f"pi{i}" for i in range(BOARDS)]
    assert all(d["error"] is None and d["results"][0]["error"] is None for d in many["devices"])
    busy = sum(d["seconds"] for d in many["devices"])
    assert busy > 1.5 * many_s  # the boards' runs overlapped: in turn they would take at least their sum
    serial, serial_s = deploy(fleet, model, "--tag", "lab", "--parallel", 1)
    assert serial_s >= 0.9 * sum(d["seconds"] for d in serial["devices"])  # --parallel 1: one board at a time
    recorded = run_json("history", "--limit", 500)["configurations"]
    in_history = {r["device"] for r in recorded if r["run_id"] == many["run"]}
    assert in_history == {f"pi{i}" for i in range(BOARDS)}  # the whole fleet run is one history entry
    with capsys.disabled():
        print(f"\nfleet: 1 board {one_s:.2f} s, {BOARDS} boards {many_s:.2f} s: {many_s / one_s:.2f}x")


def test_the_fleet_summary(fleet, converted):
    table = run("deploy", converted["kws"].variant("dynamic").path, "--tag", "lab", "--inventory", fleet,
                "--runs", 5, "--warmup", 1)  # fmt: skip
    assert table.exit_code == 0, table.output
    assert f"edgedq deploy: {BOARDS} boards" in table.stdout
    assert all(f"pi{i}" in table.stdout for i in range(BOARDS))
