"""The deploy path on an emulated aarch64 board (tools/arm_board.sh: Debian arm64 under qemu-user, own sshd)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgedq.measure.evaluate import run_samples
from tests.support.cli import run, run_json

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "arm_board.sh"
STATE = ROOT / ".cache" / "arm-board"

pytestmark = pytest.mark.arm


def board_up(flavour: str) -> bool:
    done = subprocess.run([str(SCRIPT), "status"], env={"FLAVOUR": flavour, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


@pytest.fixture(params=["bookworm", pytest.param("trixie", marks=pytest.mark.trixie)])
def arm(request, tmp_path, monkeypatch):
    """The emulated board as device ``armpi`` in a private HOME/inventory; skipped when it is not running."""
    flavour = request.param
    if not board_up(flavour):
        pytest.skip(
            f"the emulated {flavour} board is not running (make arm-board{' FLAVOUR=trixie' * (flavour == 'trixie')})"
        )
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text((STATE / "keys" / f"known_hosts-{flavour}").read_text())
    monkeypatch.setenv("HOME", str(home))
    entry = {
        "host": "10.213.77.2" if flavour == "bookworm" else "10.213.78.2",
        "user": "root",
        "identity_file": str(STATE / "keys" / "client_ed25519"),
        "python": "/opt/edgedq-venv/bin/python",
        "workdir": "/root/.edgedq",
        "threads": [1],
        "connect_timeout": 30,
    }
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(json.dumps({"devices": {"armpi": entry}}))
    return {"inventory": inventory, "flavour": flavour, "entry": entry}


def test_check_reports_an_emulated_aarch64_board(arm):
    facts = run_json("devices", "check", "armpi", "--inventory", arm["inventory"])
    assert facts["ready"] and facts["facts"]["arch"] == "aarch64"
    assert facts["facts"]["emulated"] and "qemu" in facts["facts"]["emulated"]
    assert facts["facts"]["python"].startswith("3.11" if arm["flavour"] == "bookworm" else "3.13")


def test_deploy_says_the_numbers_are_emulated(arm, sources, converted):
    args = ("deploy", sources["dense"], "--device", "armpi", "--inventory", arm["inventory"], "--runs", 3)
    report = run_json(*args)
    (device,) = report["devices"]
    assert device["error"] is None and len(device["results"]) == 2
    for result in device["results"]:
        assert result["device_facts"]["arch"] == "aarch64"
        assert any("emulated" in w for w in result["warnings"])
    table = run(*args)
    assert table.exit_code == 0 and "emulated" in table.stdout


def test_board_outputs_match_the_host(arm, converted, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    model = converted["kws"].variant("dynamic").path
    x = np.random.default_rng(0).uniform(-1, 1, (4, 1, 49, 10, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x[:, 0])
    reply = run_samples(model, tmp_path / "x.npy", "armpi", count=4, inventory=arm["inventory"])
    host = Interpreter(model_path=str(model))
    host.allocate_tensors()
    for sample, board in zip(x, reply["samples"], strict=True):
        host.set_tensor(host.get_input_details()[0]["index"], sample)
        host.invoke()
        expected = host.get_tensor(host.get_output_details()[0]["index"]).ravel()
        got = np.asarray(board["outputs"][0])
        cosine = float(expected @ got / (np.linalg.norm(expected) * np.linalg.norm(got)))
        assert cosine >= 0.99 and int(np.argmax(got)) == int(np.argmax(expected))


def test_eval_on_the_board_equals_local(arm, probes, tmp_path):
    rng = np.random.default_rng(3)
    x = rng.permuted(np.tile(np.arange(10, dtype=np.float32), (40, 1)), axis=1)
    y = x.argmax(axis=1)
    y[:10] = (y[:10] + 1) % 10
    np.savez(tmp_path / "data.npz", x=x, y=y)
    on_board = run_json("eval", probes["identity"], "--device", "armpi", "--inventory", arm["inventory"],
                        "--data", tmp_path / "data.npz")  # fmt: skip
    local = run_json("eval", probes["identity"], "--data", tmp_path / "data.npz")
    assert on_board["candidate"]["top1"] == local["candidate"]["top1"] == 0.75
    assert on_board["candidate"]["confusion"] == local["candidate"]["confusion"]


def test_tflite_runtime_cannot_load_what_tf_221_quantizes(arm, converted):
    if arm["flavour"] != "bookworm" or not (STATE / "rootfs-bookworm" / "opt/tflite-venv/bin/python").exists():
        pytest.skip("tflite-runtime is installed on the bookworm board only")
    inventory = json.loads(arm["inventory"].read_text())
    inventory["devices"]["armpi"]["python"] = "/opt/tflite-venv/bin/python"
    arm["inventory"].write_text(json.dumps(inventory))
    facts = run_json("devices", "check", "armpi", "--inventory", arm["inventory"])
    assert facts["facts"]["runtime"]["name"] == "tflite_runtime"
    result = run("bench", converted["cnn"].variant("dynamic").path, "--device", "armpi",
                 "--inventory", arm["inventory"], "--runs", 1, "--json")  # fmt: skip
    error = json.loads(result.stdout)["results"][0]["error"]
    assert error["code"] == "op_version_unsupported" and "ai-edge-litert" in error["hint"]
