"""A board that lies: every message from it is checked before the host believes it (fake agents, real processes)."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from edgedq.errors import ExitCode
from tests.support.cli import run
from tests.support.faults import lying_agent


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as any other JSON reader would."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in saved JSON"))


CORRUPTIONS = {
    "a JSON list": ("line = '[1, 2]'", "must be a JSON object"),
    "no type": ("line = json.dumps({'id': 'bench-1', 'protocol': 2})", "has no 'type'"),
    "samples as text": ("result['samples_ms'] = 'fast'", "samples_ms must be a list"),
    "empty delegation": ("result['delegation'] = {}", "delegation lacks 'partitions'"),
    "NaN samples": (
        "line = json.dumps({'type': 'result', 'id': 'bench-1', 'protocol': 2, **result, 'samples_ms': [math.nan]})",
        "NaN is not JSON",
    ),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_a_malformed_reply_fails_that_configuration_only(corruption, converted, tmp_path, monkeypatch):
    code, expected = CORRUPTIONS[corruption]
    monkeypatch.setenv("EDGEDQ_LOCAL_PYTHON", str(lying_agent(tmp_path, code)))
    victim = shutil.copy(converted["dense"].variant("dynamic").path, tmp_path / "victim.tflite")
    good = converted["dense"].variant("float32").path
    both = run("bench", victim, good, "--threads", 1, "--runs", 3, "--json")
    assert both.exit_code == ExitCode.RUNS_FAILED, both.output
    bad_result, good_result = strict_json(both.stdout)["results"]
    assert bad_result["error"]["code"] == "protocol_violation" and expected in bad_result["error"]["message"]
    assert bad_result["latency_ms"] is None and good_result["error"] is None and good_result["latency_ms"]["p50"] > 0
    alone = run("bench", victim, "--threads", 1, "--runs", 3)
    assert alone.exit_code == ExitCode.AGENT and "broke the protocol" in alone.stderr


def test_saved_results_stay_valid_json(converted, tmp_path, monkeypatch):
    code, _ = CORRUPTIONS["NaN samples"]
    monkeypatch.setenv("EDGEDQ_LOCAL_PYTHON", str(lying_agent(tmp_path, code)))
    victim = shutil.copy(converted["dense"].variant("dynamic").path, tmp_path / "victim.tflite")
    result = run("deploy", victim, "--device", "local", "--threads", 1, "--runs", 3, "--json")
    assert result.exit_code == ExitCode.AGENT, result.output
    (device,) = strict_json(result.stdout)["devices"]
    assert device["results"][0]["error"]["code"] == "protocol_violation"
    stored = run("history", "--json")
    assert strict_json(stored.stdout)["configurations"][0]["error"]["code"] == "protocol_violation"


def test_an_agent_that_reports_progress_forever_meets_its_deadline(converted, tmp_path, monkeypatch):
    """--timeout bounds silence; a whole configuration is bounded too: 2 x (--max-secs + --timeout)."""
    forever = (
        "while True:\n    protocol.emit('progress', id='bench-1', phase='runs', done=1, target=2)\n    time.sleep(0.2)"
    )
    monkeypatch.setenv("EDGEDQ_LOCAL_PYTHON", str(lying_agent(tmp_path, forever)))
    victim = shutil.copy(converted["dense"].variant("dynamic").path, tmp_path / "victim.tflite")
    started = time.monotonic()
    result = run("bench", victim, "--threads", 1, "--runs", 3, "--max-secs", 1, "--timeout", 2)
    elapsed = time.monotonic() - started
    assert result.exit_code == ExitCode.AGENT and "at its deadline" in result.stderr, result.output
    assert 5 <= elapsed < 20  # the deadline is 2 x (1 + 2) = 6 s after the request
