"""The live demos on the emulated aarch64 boards: they stream at emulated speed and say their timings mean nothing."""

from __future__ import annotations

import pytest

from tests.support.cli import run_json
from tests.test_arm_board import arm  # noqa: F401  (the fixture: the board as device armpi)

pytestmark = pytest.mark.arm


def test_live_speech_and_vision_run_on_the_arm_board_and_say_they_are_emulated(arm):  # noqa: F811
    where = ("--device", "armpi", "--inventory", arm["inventory"])
    speech = run_json("demo", "speech", "--live", "--seconds", 3, *where)
    assert speech["emulated"] and speech["windows"] > 0 and speech["seconds"] == pytest.approx(3.0, abs=0.03)
    assert any("meaningless" in note for note in speech["notes"])
    vision = run_json("demo", "vision", "--live", "--seconds", 4, "--fps", 5, *where)
    assert vision["emulated"] and vision["processed_frames"] >= 2
    assert any("meaningless" in note for note in vision["notes"])
    assert vision["score"]["faces_found"] == vision["score"]["face_frames"] > 0  # the astronaut comes first
