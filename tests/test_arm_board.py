"""The deploy path on the emulated aarch64 boards (tools/arm_board.sh: Debian arm64 under qemu-user, own sshd).

The bookworm board runs as a Pi 4 (Cortex-A72: NEON, no dot product), the trixie board as a Pi 5 (Cortex-A76:
dot product), both with XNNPACK on: these tests run the ARM kernels, int8 ones included, that a real Pi runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from edgedq.measure.evaluate import run_samples
from edgedq.tflite.compare import _pair_errors
from tests.support.cli import run, run_json

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tools" / "arm_board.sh"
STATE = ROOT / ".cache" / "arm-board"

pytestmark = pytest.mark.arm


class Board(NamedTuple):
    host: str
    python: str
    features: set[str]  # int8 features its CPU must report
    lacks: set[str]  # and must not: no Pi has sve or i8mm
    int8_kernels: str


BOARDS = {
    "bookworm": Board("10.213.77.2", "3.11", {"asimd"}, {"asimddp", "i8mm", "sve"}, "neon"),  # a Pi 4
    "trixie": Board("10.213.78.2", "3.13", {"asimd", "asimddp"}, {"i8mm", "sve"}, "neondot"),  # a Pi 5
}


def board_up(flavour: str) -> bool:
    done = subprocess.run([str(SCRIPT), "status"], env={"FLAVOUR": flavour, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


def required(flavour: str) -> bool:
    """EDGEDQ_REQUIRE_ARM names the boards that must run ("1": all); make test-arm sets it: a skip would hide them."""
    wanted = os.environ.get("EDGEDQ_REQUIRE_ARM", "").replace(",", " ").split()
    return flavour in wanted or "1" in wanted


@pytest.fixture(params=["bookworm", pytest.param("trixie", marks=pytest.mark.trixie)])
def arm(request, tmp_path, monkeypatch, record_property):
    """The emulated board as device ``armpi`` in a private HOME/inventory; if it is not running, skipped (or failed)."""
    flavour = request.param
    record_property("board", flavour)  # .ci/run counts the tests per board from this
    if not board_up(flavour):
        reason = f"the emulated {flavour} board is not running (make arm-board ARM_FLAVOURS={flavour})"
        if required(flavour):
            pytest.fail(f"{reason}, and EDGEDQ_REQUIRE_ARM asks for it")
        pytest.skip(reason)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text((STATE / "keys" / f"known_hosts-{flavour}").read_text())
    monkeypatch.setenv("HOME", str(home))
    entry = {
        "host": BOARDS[flavour].host,
        "user": "root",
        "identity_file": str(STATE / "keys" / "client_ed25519"),
        "python": "/opt/edgedq-venv/bin/python",
        "workdir": "/root/.edgedq",
        "threads": [1],
        "connect_timeout": 30,
    }
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(json.dumps({"devices": {"armpi": entry}}))
    return {"inventory": inventory, "flavour": flavour, "board": BOARDS[flavour]}


def bench_on_board(arm, *models: Path) -> list[dict]:
    """One quick run of each model on the board: what XNNPACK took there, as a user's bench reports it."""
    report = run_json("bench", *models, "--device", "armpi", "--inventory", arm["inventory"],
                      "--runs", 1, "--warmup", 0)  # fmt: skip
    assert all(result["error"] is None for result in report["results"]), report["results"]
    return report["results"]


def assert_board_matches_host(arm, model: Path, x: np.ndarray, folder: Path) -> None:
    """The same inputs through the same agent on the board and on this x86 host: cosine >= 0.9999, same top-1."""
    np.save(folder / "x.npy", x)
    board, host = (
        run_samples(model, folder / "x.npy", device, count=len(x), inventory=arm["inventory"])["samples"]
        for device in ("armpi", "local")
    )
    for on_board, on_host in zip(board, host, strict=True):
        got, expected = (np.asarray(sample["outputs"][0])[None] for sample in (on_board, on_host))
        _, _, cosine, same_top1 = _pair_errors(expected, got)
        assert cosine >= 0.9999 and same_top1, (cosine, expected, got)


def test_check_reports_the_board_cpu_and_its_int8_kernels(arm):
    check = run_json("devices", "check", "armpi", "--inventory", arm["inventory"])
    facts, board = check["facts"], arm["board"]
    assert check["ready"] and facts["arch"] == "aarch64"
    assert facts["emulated"] and "qemu" in facts["emulated"]
    assert facts["python"].startswith(board.python)
    features = set(facts["cpu_features"])
    assert board.features <= features and not board.lacks & features, features
    assert check["int8_kernels"]["kind"] == board.int8_kernels
    table = run("devices", "check", "armpi", "--inventory", arm["inventory"])
    assert ("no dot product" in table.stdout) == (board.int8_kernels == "neon"), table.stdout


def test_deploy_reports_delegation_and_says_the_numbers_are_emulated(arm, sources, converted):
    args = ("deploy", sources["dense"], "--device", "armpi", "--inventory", arm["inventory"], "--runs", 3)
    report = run_json(*args)
    (device,) = report["devices"]
    assert device["error"] is None and len(device["results"]) == 2
    for result in device["results"]:
        assert result["device_facts"]["arch"] == "aarch64"
        assert any("emulated" in w and "meaningless" in w for w in result["warnings"])
        delegation = result["delegation"]
        assert delegation["partitions"] == 1 and delegation["delegated_nodes"] == delegation["total_nodes"] > 0
    table = run(*args)
    assert table.exit_code == 0 and "emulated" in table.stdout


@pytest.mark.parametrize("mode", ["float32", "dynamic", "int8"])
def test_xnnpack_takes_the_whole_cnn_and_matches_the_host(arm, converted, mode, tmp_path):
    model = converted["cnn"].variant(mode).path
    (result,) = bench_on_board(arm, model)
    delegation = result["delegation"]
    assert delegation["partitions"] == 1 and delegation["delegated_nodes"] == delegation["total_nodes"], delegation
    x = np.random.default_rng(1).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    assert_board_matches_host(arm, model, x, tmp_path)


def test_tensorflow_default_splits_on_the_board_as_on_x86(arm, tf_default):
    from edgedq.tflite.inspection import measure_delegation

    _, on_host = measure_delegation(tf_default["cnn"])
    (result,) = bench_on_board(arm, tf_default["cnn"])
    assert result["delegation"]["partitions"] > 1
    assert result["delegation"] == on_host


def test_keyword_spotter_outputs_match_the_host(arm, converted, tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (4, 49, 10, 1)).astype(np.float32)
    assert_board_matches_host(arm, converted["kws"].variant("dynamic").path, x, tmp_path)


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


@pytest.mark.parametrize("arm", ["bookworm"], indirect=True)  # trixie's Python 3.13 has no tflite-runtime wheel
def test_tflite_runtime_cannot_load_what_tf_221_quantizes(arm, converted):
    assert (STATE / "rootfs-bookworm" / "opt/tflite-venv/bin/python").exists(), (
        "the bookworm board was built without /opt/tflite-venv: rebuild it (make arm-board-clean arm-board)"
    )
    inventory = json.loads(arm["inventory"].read_text())
    inventory["devices"]["armpi"]["python"] = "/opt/tflite-venv/bin/python"
    arm["inventory"].write_text(json.dumps(inventory))
    facts = run_json("devices", "check", "armpi", "--inventory", arm["inventory"])
    assert facts["facts"]["runtime"]["name"] == "tflite_runtime"
    result = run("bench", converted["cnn"].variant("dynamic").path, "--device", "armpi",
                 "--inventory", arm["inventory"], "--runs", 1, "--json")  # fmt: skip
    error = json.loads(result.stdout)["results"][0]["error"]
    assert error["code"] == "op_version_unsupported" and "ai-edge-litert" in error["hint"]


def test_profile_shows_the_arm_int8_gemms_of_the_dynamic_model(arm, converted):
    """XNNPACK's own operators on the board: the dynamic model's int8 GEMMs are ARM's (x86 runs them as QDU8): QD8
    with NEON alone (a Pi 4), QP8 (packed activations) with the dot product (a Pi 5)."""
    model = converted["cnn"].variant("dynamic").path
    (profile,) = run_json("profile", model, "--device", "armpi", "--inventory", arm["inventory"], "--runs", 2,
                          "--warmup", 0)["profiles"]  # fmt: skip
    assert profile["device_facts"]["arch"] == "aarch64" and profile["mapping"]["status"] == "mapped"
    arm_int8 = {"neon": "QD8", "neondot": "QP8"}[arm["board"].int8_kernels]
    gemms = [op for op in profile["ops"] if f"({'NC' if 'Fully' in op['type'] else 'NHWC'}, {arm_int8}," in op["type"]]
    assert gemms and {op["node_type"] for op in gemms} <= {"CONV_2D", "FULLY_CONNECTED"}, profile["ops"]
    assert not any("QDU8" in op["type"] for op in profile["ops"])
    if arm["flavour"] == "bookworm" and (STATE / "rootfs-bookworm" / "opt/tflite-venv/bin/python").exists():
        inventory = json.loads(arm["inventory"].read_text())
        inventory["devices"]["armpi"]["python"] = "/opt/tflite-venv/bin/python"  # tflite-runtime 2.14: no C API
        arm["inventory"].write_text(json.dumps(inventory))
        refused = run("profile", model, "--device", "armpi", "--inventory", arm["inventory"], "--runs", 1)
        assert refused.exit_code == 10 and "tflite_runtime 2.14" in refused.stderr, refused.output
        assert "hint: install ai-edge-litert==2.3.0" in refused.stderr
