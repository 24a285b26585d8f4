"""The board agent against the real runtime in .venv-device, and the faults it must survive."""

from __future__ import annotations

import ast
import os
import platform
import sys
from pathlib import Path

import edgedq_agent
import numpy as np
import pytest

from edgedq.device.agent import AgentClient
from edgedq.device.bundle import build_agent
from edgedq.device.inventory import Device, default_local_python
from edgedq.device.local import LocalConnection, LocalProcess
from edgedq.errors import AgentError
from edgedq.measure.bench import BenchOptions, bench
from edgedq.measure.stats import LatencyStats
from tests.support import DEVICE_PYTHON, ROOT, device_runtime_version
from tests.support.faults import wrapper_python
from tests.support.models import custom_op_model

NUMPY2_TFLITE_PYTHON = ROOT / ".venv-tflite-numpy2" / "bin" / "python"
LOCAL = Device("local", python=str(DEVICE_PYTHON))


@pytest.fixture(scope="module")
def agent() -> Path:
    return build_agent().path


def bench_local(models: list[Path], python: Path, **overrides) -> list:
    """bench on ``local`` with ``python`` as its interpreter, 5 quick runs unless overridden."""
    options = BenchOptions(**{"runs": 5, "warmup": 1, "timeout": 60.0, "threads": [1], **overrides})
    return bench(models, LOCAL, options, connection=LocalConnection(str(python))).results


def test_local_device_is_board_like():
    assert default_local_python() == str(DEVICE_PYTHON)
    assert os.system(f"{DEVICE_PYTHON} -c 'import tensorflow' 2>/dev/null") != 0


def test_agent_imports_only_stdlib_numpy_and_runtimes():
    allowed = set(sys.stdlib_module_names) | {"numpy", "edgedq_agent", "ai_edge_litert", "tflite_runtime", "tensorflow"}
    for source in (ROOT / "device_agents" / "edgedq_agent").glob("*.py"):
        tree = ast.parse(source.read_text())
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            )
            for name in names:
                assert name.split(".")[0] in allowed, f"{source.name} imports {name}"
    runtime_src = (ROOT / "device_agents" / "edgedq_agent" / "runtime.py").read_text()
    assert "import tensorflow" not in runtime_src  # only named as the last-resort runtime module string


def test_agent_build_is_reproducible():
    first, second = build_agent(), build_agent()
    assert first.sha256 == second.sha256 and first.path == second.path
    assert first.protocol == edgedq_agent.PROTOCOL_VERSION


def test_hello_facts_on_this_machine(agent):
    with AgentClient(LocalProcess(str(DEVICE_PYTHON), agent), "local", 30) as session:
        hello = session.start()
    facts = hello["facts"]
    assert hello["protocol"] == edgedq_agent.PROTOCOL_VERSION
    assert facts["arch"] == platform.machine()
    assert facts["cores"] == os.cpu_count()
    meminfo = int(Path("/proc/meminfo").read_text().split()[1]) / 1024
    assert facts["memory_mb"] == pytest.approx(meminfo)
    assert facts["runtime"] == {"name": "ai_edge_litert", "version": device_runtime_version()}
    assert facts["python_executable"] == str(DEVICE_PYTHON)
    assert facts["emulated"] is None
    assert set(facts["thermal"]) >= {"temperature_c", "governor", "cpu_mhz", "throttled_now"}


def _mapped(pid: int, library: str) -> bool:
    return library in Path(f"/proc/{pid}/maps").read_text()


def test_hello_names_the_runtime_and_probe_loads_and_runs_it(agent):
    """Hello stays light (neither the native interpreter nor OpenSSL's hashing is mapped yet); probe loads the
    interpreter and runs the shipped model."""
    with AgentClient(LocalProcess(str(DEVICE_PYTHON), agent), "local", 30) as session:
        pid = session.start()["facts"]["pid"]
        assert not _mapped(pid, "interpreter_wrapper") and not _mapped(pid, "_hashlib")  # 10 MB and 3.5 MB of RSS
        probe = session.request("probe", {})
        assert _mapped(pid, "interpreter_wrapper")
    assert probe["runtime"] == {"name": "ai_edge_litert", "version": device_runtime_version()}
    assert probe["runtime_load_ms"] > 0 and probe["probe_ms"] > 0
    assert probe["delegation"]["partitions"] == 1


def test_protocol_round_trip(agent, converted):
    model = converted["cnn"].variant("dynamic").path
    with AgentClient(LocalProcess(str(DEVICE_PYTHON), agent), "local", 60) as session:
        session.start()
        reply = session.request("bench", {"model": str(model), "threads": 1, "runs": 7, "warmup": 2})
    assert len(reply["samples_ms"]) == 7 and len(reply["warmup_ms"]) == 2
    assert all(s > 0 for s in reply["samples_ms"])
    assert reply["init_ms"] > 0 and reply["first_inference_ms"] > 0
    assert reply["delegation"]["partitions"] == 1
    memory = reply["memory_kb"]
    assert memory["peak_reset_before_load"] is True
    assert memory["peak_rss"] >= memory["rss_after_load"] > memory["rss_before_load"]
    assert memory["pss"] > 0 and memory["uss"] > 0
    assert reply["outputs"]["output_0"]["shape"] == [1, 10]  # outputs by their signature names
    assert list(reply["input_shapes"].values()) == [[1, 32, 32, 3]]  # the open batch ran as 1


def test_agent_refuses_another_protocol(agent):
    link = LocalProcess(str(DEVICE_PYTHON), agent)
    with AgentClient(link, "local", 30) as session:
        session.start()
        link.send('{"type": "bench", "id": "x", "protocol": 999}\n')
        reply = session._next("testing")
    assert reply["type"] == "error" and reply["code"] == "protocol_mismatch"


def test_host_refuses_an_agent_of_another_protocol(tmp_path):
    """A real process that greets with protocol 999: the host must refuse it (and would redeploy)."""
    old_agent = tmp_path / "old_agent.py"
    old_agent.write_text(
        'import json, sys\nprint(json.dumps({"type": "hello", "protocol": 999}), flush=True)\nsys.stdin.read()\n'
    )
    with (
        pytest.raises(AgentError, match="speaks protocol 999"),
        AgentClient(LocalProcess(sys.executable, old_agent), "local", 30) as session,
    ):
        session.start()


def test_statistics_against_hand_computation():
    stats = LatencyStats.from_samples([float(v) for v in range(1, 11)])
    assert (stats.mean, stats.min, stats.max, stats.p50) == (5.5, 1.0, 10.0, 5.5)
    assert stats.std == pytest.approx((sum((v - 5.5) ** 2 for v in range(1, 11)) / 10) ** 0.5)
    # linear interpolation: rank = q * (n - 1)
    assert stats.p90 == pytest.approx(9.1) and stats.p95 == pytest.approx(9.55) and stats.p99 == pytest.approx(9.91)
    assert stats.spread == pytest.approx((9.1 - 5.5) / 5.5)


def test_statistics_of_sub_millisecond_and_zero_latencies():
    """spread is (p90 - p50) / p50 at any scale, and 0 (not a division by zero) for a zero median; the figures
    stored and shown are every statistic but the count."""
    fast = LatencyStats.from_samples([0.25, 0.5, 0.5, 0.75, 1.0])
    assert (fast.p50, fast.p90) == (0.5, pytest.approx(0.9)) and fast.spread == pytest.approx(0.8)
    assert LatencyStats.from_samples([0.0, 0.0]).spread == 0.0
    assert fast.as_dict() == {"mean": pytest.approx(0.6), "std": pytest.approx(0.065**0.5), "min": 0.25, "max": 1.0,
                              "p50": 0.5, "p90": pytest.approx(0.9), "p95": pytest.approx(0.95),
                              "p99": pytest.approx(0.99)}  # fmt: skip


def test_thread_sweep_runs_each_configuration_in_a_fresh_process(converted):
    model = converted["dense"].variant("dynamic").path
    results = bench_local([model], DEVICE_PYTHON, threads=[1, 2], xnnpack=[True, False])
    assert [(r.threads, r.xnnpack) for r in results] == [(1, True), (1, False), (2, True), (2, False)]
    assert all(r.ok for r in results), [r.error for r in results]
    assert len({r.device_facts["pid"] for r in results}) == 4
    assert [r.delegation["partitions"] for r in results] == [1, 0, 1, 0]
    for r in results:
        assert r.latency_ms == LatencyStats.from_samples(r.samples_ms)
        assert len(r.samples_ms) == 5


def test_custom_op_model_fails_alone_and_the_rest_still_run(converted, tmp_path):
    broken = custom_op_model(converted["cnn"].variant("float32").path, tmp_path / "custom.tflite")
    good = converted["cnn"].variant("dynamic").path
    results = bench_local([broken, good], DEVICE_PYTHON)
    assert results[0].error["code"] == "custom_op_missing"
    assert "EdgedqMissingOp" in results[0].error["message"]
    assert results[1].ok and results[1].latency_ms.p50 > 0


def test_agent_segfault_is_reported(converted, tmp_path):
    python = wrapper_python(tmp_path, "ctypes.string_at(0)")  # a real SIGSEGV in the agent process
    model = converted["cnn"].variant("dynamic").path
    results = bench_local([model], python, runs=10**7, max_secs=60, threads=[1, 2])
    assert len(results) == 2
    for result in results:
        assert "crashed (SIGSEGV)" in result.error["message"]


def test_hung_agent_times_out(converted, tmp_path):
    python = wrapper_python(tmp_path, "os.kill(os.getpid(), signal.SIGSTOP)")  # frozen for real
    model = converted["cnn"].variant("dynamic").path
    results = bench_local([model], python, runs=10**7, max_secs=60, timeout=3.0)
    assert "sent nothing for 3 s" in results[0].error["message"]


@pytest.mark.skipif(not NUMPY2_TFLITE_PYTHON.exists(), reason="make setup builds .venv-tflite-numpy2")
def test_tflite_runtime_with_numpy2_says_what_to_install(converted):
    model = converted["cnn"].variant("dynamic").path
    results = bench_local([model], NUMPY2_TFLITE_PYTHON)
    error = results[0].error
    assert error["code"] == "runtime_numpy_mismatch"
    assert "numpy<2" in error["hint"] and "tflite-runtime 2.14.0" in error["message"]


def test_given_inputs_are_used(converted, tmp_path):
    """The outputs the agent reports are the model's on the given first sample, as a host interpreter computes them."""
    from ai_edge_litert.interpreter import Interpreter

    model = converted["cnn"].variant("float32").path
    given = np.random.default_rng(7).normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=given)
    results = bench_local([model], DEVICE_PYTHON, inputs=tmp_path / "in.npz")
    assert results[0].ok, results[0].error
    host = Interpreter(model_path=str(model))
    host.allocate_tensors()
    host.set_tensor(host.get_input_details()[0]["index"], given[:1])
    host.invoke()
    expected = float(host.get_tensor(host.get_output_details()[0]["index"]).astype(np.float64).sum())
    (reported,) = results[0].outputs.values()
    assert reported["checksum"] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    seeded = bench_local([model], DEVICE_PYTHON)  # the agent's own inputs give other outputs
    assert next(iter(seeded[0].outputs.values()))["checksum"] != pytest.approx(expected, rel=1e-3)
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 8, 8, 3), np.float32))
    results = bench_local([model], DEVICE_PYTHON, inputs=tmp_path / "bad.npz")
    assert results[0].error["code"] == "bad_inputs"
