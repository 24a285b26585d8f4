"""The demos end to end in their quick setting: trained here, measured on the device, inputs recognized."""

from __future__ import annotations

import pytest

from tests.support.cli import run, run_json


def check_vision(report: dict) -> None:
    modes = [v["mode"] for v in report["variants"]]
    assert modes == ["float32", "dynamic", "int8"]
    accuracy = {v["mode"]: v["accuracy"] for v in report["variants"]}
    assert accuracy["float32"] >= 0.97
    assert abs(accuracy["dynamic"] - accuracy["float32"]) <= 0.005
    for variant in report["variants"]:
        assert variant["latency_ms"]["p50"] > 0 and variant["size_bytes"] > 0
    right = sum(s["predictions"]["dynamic"] == s["label"] for s in report["samples"])
    assert len(report["samples"]) == 6 and right >= 5


def test_vision_demo_on_local():
    check_vision(run_json("demo", "vision", "--runs", 5))


@pytest.mark.ssh
def test_vision_demo_on_the_board(board):
    result = run("demo", "vision", "--device", "board", "--inventory", board.inventory, "--runs", 5)
    assert result.exit_code == 0, result.output
    assert "edgedq demo vision on board" in result.stdout and "input 0: true" in result.stdout


def test_speech_demo_on_local():
    report = run_json("demo", "speech", "--runs", 5)
    accuracy = {v["mode"]: v["accuracy"] for v in report["variants"]}
    assert accuracy["float32"] >= 0.85  # held-out voices; the quick setting tests 192 clips
    assert abs(accuracy["dynamic"] - accuracy["float32"]) <= 0.02
    assert any("SYNTHETIC" in note for note in report["notes"])
    right = sum(s["predictions"]["dynamic"] == s["label"] for s in report["samples"])
    assert len(report["samples"]) == 8 and right >= 6


@pytest.mark.ssh
def test_speech_demo_on_the_board(board):
    """The on-board front end and model give what they give here: the same voices, the same accuracy bar."""
    report = run_json("demo", "speech", "--device", "board", "--inventory", board.inventory, "--runs", 3)
    accuracy = {v["mode"]: v["accuracy"] for v in report["variants"]}
    assert accuracy["float32"] >= 0.85 and abs(accuracy["dynamic"] - accuracy["float32"]) <= 0.02
    assert all(v["latency_ms"]["p50"] > 0 for v in report["variants"])


def test_vision_demo_full_trains_on_more_augmented_data():
    report = run_json("demo", "vision", "--full", "--runs", 2)
    assert any("(+4x augmented)" in note for note in report["notes"]), report["notes"]  # the quick setting: 2x
    check_vision(report)
