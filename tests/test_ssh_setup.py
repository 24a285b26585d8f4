"""edgedq devices setup on the sshd test board: a venv with numpy + ai-edge-litert, online and offline."""

from __future__ import annotations

import platform

import pytest

from edgedq.device.provision import wheel_platforms
from tests.support.cli import run_json

pytestmark = pytest.mark.ssh


def test_wheel_platforms_follow_the_boards_glibc():
    tags = wheel_platforms({"arch": "aarch64", "libc": "glibc 2.36"})
    assert tags[0] == "manylinux_2_36_aarch64" and "manylinux_2_17_aarch64" in tags
    assert "manylinux2014_aarch64" in tags and all("x86_64" not in t for t in tags)


def test_offline_setup_pushes_wheels_and_save_points_the_inventory_at_the_venv(board):
    board.write(python=None)  # a fresh board: only the system python3
    result = run_json("devices", "setup", "board", "--offline", "--save", "--inventory", board.inventory)
    assert result["ready"] and result["facts"]["runtime"]["name"] == "ai_edge_litert"
    venv_python = f"{board.workdir}/venv/bin/python"
    assert result["python"] == venv_python and result["facts"]["python_executable"].startswith(str(board.workdir))
    wheels = [f for f in board.files() if f.endswith(".whl")]
    assert any("numpy" in w for w in wheels) and any("ai_edge_litert" in w for w in wheels)
    assert any(platform.machine() in w for w in wheels)
    inventory = run_json("devices", "list", "--inventory", board.inventory)
    (entry,) = [d for d in inventory["devices"] if d["name"] == "board"]
    assert entry["python"] == venv_python
    assert run_json("devices", "check", "board", "--inventory", board.inventory)["ready"]


def test_online_setup_uses_the_boards_pip(board):
    board.write(python=None)
    result = run_json("devices", "setup", "board", "--inventory", board.inventory)
    assert result["ready"] and result["facts"]["numpy"]
    assert not [f for f in board.files() if f.endswith(".whl")]  # nothing pushed: the board fetched its own
    inventory = run_json("devices", "list", "--inventory", board.inventory)
    assert [d for d in inventory["devices"] if d["name"] == "board"][0].get("python") in (None, "python3")
