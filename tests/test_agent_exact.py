"""The agent's bench and eval replies to the exact figure, through a real agent process, runtime and model.

A virtual clock (tests/support/clock.py) makes every time the agent reports one right value: time passes only
while the runtime loads, allocates or invokes, by fixed binary fractions of a second.  So init and first-inference
times, each warm-up and counted sample, where ``min_secs`` and ``max_secs`` stop the loop, and when progress is
reported and what it says are all checked to the last digit, and so are a bare request's defaults.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from edgedq.device.agent import AgentClient
from edgedq.device.bundle import build_agent
from edgedq.device.local import LocalProcess
from tests.support import DEVICE_PYTHON
from tests.support.clock import virtual_clock_python
from tests.support.rewrites import open_dims

LOAD_S, ALLOCATE_S = 2**-5, 2**-7
ODD_INVOKE_S, SET_S = 7 * 2**-10, 2**-11  # a run (inputs set, invoked) crosses whole seconds between two runs
EVEN_INVOKE_S = 2**-6  # 64 runs are exactly one second: every boundary is met with equality


def ask(python: Path, kind: str, body: dict) -> tuple[dict, list[tuple]]:
    """One request to a fresh agent on ``python``: its result and its progress messages (phase, done, target,
    elapsed)."""
    progress: list[dict] = []
    with AgentClient(LocalProcess(str(python), build_agent().path), "local", 60) as session:
        session.start()
        reply = session.request(kind, body, progress.append)
    return reply, [tuple(m.get(k) for k in ("phase", "done", "target", "elapsed_s")) for m in progress]


def signature_input(model: Path) -> str:
    (name,) = Interpreter(model_path=str(model)).get_signature_list()["serving_default"]["inputs"]
    return name


def test_bench_figures_are_the_clocks_to_the_last_digit(converted, tmp_path):
    model = converted["dense"].variant("dynamic").path
    python = virtual_clock_python(tmp_path, LOAD_S, ALLOCATE_S, ODD_INVOKE_S, SET_S)
    body = {"model": str(model), "threads": 1, "warmup": 2, "runs": 300, "min_secs": 0.0, "max_secs": 100.0}
    reply, progress = ask(python, "bench", body)
    run_ms = (SET_S + ODD_INVOKE_S) * 1e3  # what a run is: its input set, then the inference
    assert reply["init_ms"] == (LOAD_S + ALLOCATE_S) * 1e3  # load + allocate, nothing else
    assert reply["first_inference_ms"] == run_ms
    assert reply["warmup_ms"] == [run_ms] * 2 and reply["samples_ms"] == [run_ms] * 300
    # progress once a second of counted runs has passed (run 137 ends 1.0034 s in), then a second after that
    assert progress == [("runs", 137, 300, 1.003), ("runs", 274, 300, 2.007)]
    assert reply["inputs"] == "generated (seed 0)" and "profile" not in reply
    assert reply["input_shapes"] == {signature_input(model): [1, 64]}


def test_min_and_max_seconds_stop_the_loop_exactly_when_reached(converted, tmp_path):
    model = str(converted["dense"].variant("dynamic").path)
    python = virtual_clock_python(tmp_path, LOAD_S, ALLOCATE_S, EVEN_INVOKE_S)
    at_least, _ = ask(python, "bench", {"model": model, "warmup": 1, "runs": 1, "min_secs": 4 * EVEN_INVOKE_S})
    assert len(at_least["samples_ms"]) == 4  # 1 run asked, but on until 4 runs' time has passed, not one more
    at_most, _ = ask(python, "bench", {"model": model, "warmup": 1, "runs": 1000, "max_secs": 6 * EVEN_INVOKE_S})
    assert len(at_most["samples_ms"]) == 6
    _, progress = ask(python, "bench", {"model": model, "warmup": 1, "runs": 200})
    assert progress == [("runs", 64, 200, 1.0), ("runs", 128, 200, 2.0), ("runs", 192, 200, 3.0)]  # each second


def test_a_bare_bench_request_takes_the_documented_defaults(converted, tmp_path):
    """1 thread, XNNPACK, 1 warm-up run, 50 counted runs, 150 s at most."""
    model = str(converted["dense"].variant("dynamic").path)
    reply, _ = ask(
        virtual_clock_python(tmp_path / "fast", LOAD_S, ALLOCATE_S, EVEN_INVOKE_S), "bench", {"model": model}
    )
    assert (reply["threads"], reply["xnnpack"], reply["delegation"]["partitions"]) == (1, True, 1)
    assert (len(reply["warmup_ms"]), len(reply["samples_ms"])) == (1, 50)
    slow, _ = ask(virtual_clock_python(tmp_path / "slow", LOAD_S, ALLOCATE_S, 8.0), "bench", {"model": model})
    assert slow["samples_ms"] == [8000.0] * 19  # 19 runs of 8 s: the first past 150 s ends the loop


def test_an_input_shape_asked_for_is_the_one_run(probes, tmp_path):
    model = open_dims(probes["identity"], tmp_path / "open.tflite")
    body = {"model": str(model), "runs": 2, "input_shapes": [[None, [3, 10]]]}
    reply, _ = ask(DEVICE_PYTHON, "bench", body)
    assert reply["input_shapes"] == {signature_input(model): [3, 10]}
    assert [output["shape"] for output in reply["outputs"].values()] == [[3, 10]]


def test_eval_replies_exactly(probes, tmp_path):
    """A bare request: 5 classes per sample, best first; its time and progress by the clock, checked per chunk."""
    rng = np.random.default_rng(3)
    x = rng.permuted(np.tile(np.arange(10, dtype=np.float32), (300, 1)), axis=1)
    np.save(tmp_path / "x.npy", x)
    python = virtual_clock_python(tmp_path, LOAD_S, ALLOCATE_S, EVEN_INVOKE_S)
    body = {"model": str(probes["identity"]), "x": str(tmp_path / "x.npy")}
    reply, progress = ask(python, "eval", body)
    assert reply["predictions"] == np.argsort(-x, axis=1)[:, :5].tolist()  # the identity model's scores are x
    # the model is allocated at the first block of data, inside the timed span
    assert (reply["count"], reply["classes"], reply["seconds"]) == (300, 10, ALLOCATE_S + 300 * EVEN_INVOKE_S)
    assert progress == [("eval", 256, 300, None)]  # checked after each block of 256: the first ends 4 s in
    _, progress = ask(python, "eval", {**body, "chunk": 4})  # blocks of 1/16 s: 1 s passes at sample 64 (and
    assert [done for _, done, _, _ in progress] == [64, 128, 192, 256]  # 1/128 s), 2 s at 128 exactly, ...
    np.save(tmp_path / "none.npy", np.zeros((0, 10), np.float32))
    empty, _ = ask(python, "eval", {**body, "x": str(tmp_path / "none.npy")})
    assert (empty["count"], empty["classes"], empty["predictions"]) == (0, 0, [])


@pytest.mark.parametrize("top_k", [1, 3])
def test_eval_returns_the_top_k_asked_for(probes, tmp_path, top_k):
    x = np.random.default_rng(4).normal(size=(6, 10)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    reply, _ = ask(
        DEVICE_PYTHON, "eval", {"model": str(probes["identity"]), "x": str(tmp_path / "x.npy"), "top_k": top_k}
    )
    assert reply["predictions"] == np.argsort(-x, axis=1)[:, :top_k].tolist()


def test_a_model_that_fails_on_its_inputs_is_said_to_with_which_inputs(tmp_path):
    """Generated ids run past an embedding's 50 rows: the first inference fails, and says so; given ids in range
    run, ids out of range fail as given ones."""
    from edgedq.errors import EdgedqError
    from tests.support.rewrites import embedding_lookup_model

    model = str(embedding_lookup_model(tmp_path / "lookup.tflite"))
    with pytest.raises(EdgedqError) as generated:
        ask(DEVICE_PYTHON, "bench", {"model": model, "runs": 2})
    assert generated.value.code == "inference_failed" and "failed on its generated inputs" in generated.value.message
    np.savez(tmp_path / "ok.npz", ids=np.arange(16, dtype=np.int32).reshape(2, 8))
    reply, _ = ask(DEVICE_PYTHON, "bench", {"model": model, "runs": 2, "inputs": str(tmp_path / "ok.npz")})
    assert reply["inputs"] == str(tmp_path / "ok.npz")
    assert [o["checksum"] for o in reply["outputs"].values()] == [float(np.arange(32).sum())]  # rows 0-7 of the table
    np.savez(tmp_path / "past.npz", ids=np.full((1, 8), 60, np.int32))
    with pytest.raises(EdgedqError) as given:
        ask(DEVICE_PYTHON, "bench", {"model": model, "runs": 2, "inputs": str(tmp_path / "past.npz")})
    assert given.value.code == "inference_failed" and "failed on its given inputs" in given.value.message
