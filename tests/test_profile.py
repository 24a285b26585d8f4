"""edgedq profile with the real runtime, here and on the sshd board: XNNPACK's own operators, builtin nodes by index,
two models side by side, bench --profile, a runtime without the profiler, and the pinned internals of the wheel."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from edgedq.errors import ExitCode
from edgedq.tflite import flatbuffer
from tests.support import DEVICE_PYTHON, ROOT, device_runtime_version
from tests.support.cli import run, run_json

COVERAGE = 0.15  # the operators' times must add up to the wall time within this


@pytest.fixture(scope="module")
def cnn(tmp_path_factory) -> dict[str, Path]:
    """A small CNN with about 2 ms of work at one thread: the profiler's fixed cost per run stays small beside it."""
    import keras

    import edgedq

    folder = tmp_path_factory.mktemp("profile-cnn")
    keras.utils.set_random_seed(11)
    layers = keras.layers
    keras.Sequential([keras.Input((160, 160, 3)), layers.Conv2D(32, 3, padding="same", activation="relu6"),
                      layers.DepthwiseConv2D(3, padding="same", activation="relu6"), layers.Conv2D(96, 1),
                      layers.DepthwiseConv2D(3, strides=2, padding="same"), layers.Conv2D(192, 1, activation="relu"),
                      layers.GlobalAveragePooling2D(), layers.Dense(10)]).save(folder / "cnn.keras")  # fmt: skip
    result = edgedq.convert(folder / "cnn.keras", folder / "cnn.tflite", ["float32", "dynamic"])
    return {mode: result.variant(mode).path for mode in ("float32", "dynamic")}


@pytest.fixture(params=["local", "board"])
def target(request) -> list[str]:
    """The CLI arguments naming the device: this machine, or the sshd board."""
    if request.param == "local":
        return ["--device", "local"]
    board = request.getfixturevalue("board")
    return ["--device", board.name, "--inventory", str(board.inventory)]


def node_types(model: Path) -> list[str]:
    parsed = flatbuffer.read_model(model.read_bytes())
    return [ref.op_type for ref in flatbuffer.iter_ops(parsed) if ref.subgraph == 0]


def test_profile_lists_xnnpack_operators_that_add_up_to_the_wall_time(cnn, target):
    data = run_json("profile", cnn["float32"], cnn["dynamic"], *target, "--runs", 30)
    float32, dynamic = data["profiles"]
    for profile in (float32, dynamic):
        ops, types = profile["ops"], node_types(Path(profile["model"]))
        assert ops and all(op["delegate"] == "xnnpack" and op["count"] == 1 for op in ops), ops
        assert {"Convolution", "Fully Connected"} <= {op["type"].split(" (")[0] for op in ops}
        assert profile["mapping"]["status"] == "mapped", profile["mapping"]
        mapped = {op["node"] for op in ops if op["node"] is not None}
        assert mapped == {i for i, t in enumerate(types) if t in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
                                                                  "MEAN")}  # fmt: skip
        assert all(op["node_type"] == types[op["node"]] for op in ops if op["node"] is not None)
        assert sum(op["avg_ms"] for op in ops) == pytest.approx(profile["profiled_ms"])
        assert sum(op["percent"] for op in ops) == pytest.approx(100)
        assert sum(t["avg_ms"] for t in profile["by_type"]) == pytest.approx(profile["profiled_ms"])
        assert abs(profile["wall_ms"] - profile["profiled_ms"]) <= COVERAGE * profile["wall_ms"], profile
        assert profile["runs"] == 30 and all(len(e["elapsed_us"]) == 30 for e in profile["events"])
    assert not any("QC8W" in op["type"] for op in float32["ops"])
    int8 = [op for op in dynamic["ops"] if "QC8W" in op["type"]]  # int8 weights: the 1x1 convolutions, the dense
    assert {op["node_type"] for op in int8} == {"CONV_2D", "FULLY_CONNECTED"}


def test_no_xnnpack_lists_builtin_nodes_by_index_and_type(cnn, target):
    (profile,) = run_json("profile", cnn["float32"], "--no-xnnpack", *target, "--runs", 5)["profiles"]
    types = node_types(cnn["float32"])
    assert profile["xnnpack"] is False and all(op["delegate"] == "builtin" for op in profile["ops"])
    assert sorted(op["node"] for op in profile["ops"]) == list(range(len(types)))
    assert all(op["type"] == op["node_type"] == types[op["node"]] for op in profile["ops"])
    table = run("profile", cnn["float32"], "--no-xnnpack", *target, "--runs", 5)
    assert table.exit_code == 0 and "builtin kernels (no XNNPACK)" in table.stdout
    assert "0 CONV_2D" in table.stdout and "1 DEPTHWISE_CONV_2D" in table.stdout


def test_two_models_side_by_side_list_the_operator_types_of_both(cnn, target, tmp_path):
    args = (cnn["float32"], cnn["dynamic"], *target, "--runs", 5)
    table = run("profile", *args, "--csv", tmp_path / "ops.csv")
    assert table.exit_code == 0 and "side by side" in table.stdout, table.output
    profiles = run_json("profile", *args)["profiles"]
    for profile in profiles:
        for entry in profile["by_type"]:
            assert entry["type"] in table.stdout, entry["type"]
        for op in profile["ops"]:
            if op["node_type"]:
                assert op["node_type"] in table.stdout
    rows = list(csv.DictReader((tmp_path / "ops.csv").open()))
    assert {row["model"] for row in rows} == {str(cnn["float32"]), str(cnn["dynamic"])}
    assert len(rows) == sum(len(p["ops"]) for p in profiles)
    recorded = run_json("history", "--limit", 2)["configurations"]  # the last run, one row per model
    assert [(row["run_kind"], row["mode"]) for row in recorded] == [("profile", "float32"), ("profile", "dynamic")]
    assert recorded[1]["details"]["profile"]["by_type"] == profiles[1]["by_type"]


def test_tables_are_readable_at_100_columns(cnn):
    from rich.console import Console

    import edgedq
    from edgedq.cli.profile_tables import profile_tables

    report = edgedq.profile([cnn["float32"], cnn["dynamic"]], "local", edgedq.ProfileOptions(runs=3))
    console = Console(width=100, record=True)
    for part in profile_tables(report.profiles):
        console.print(part)
    text = console.export_text()
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 100
    for profile in report.profiles:
        for op in profile.ops[:10]:
            assert op["type"] in text  # never wrapped


def test_bench_profile_adds_the_top_operators_to_each_configuration(cnn):
    bench = run_json("bench", cnn["dynamic"], "--threads", "1", "--runs", 3, "--profile")
    (result,) = bench["results"]
    top = result["profile"]["top"]
    assert len(top) == 5 and top[0]["avg_ms"] >= top[-1]["avg_ms"] > 0
    assert all(op["delegate"] == "xnnpack" for op in top) and any("QC8W" in op["type"] for op in top)
    assert result["profile"]["wall_ms"] >= result["profile"]["profiled_ms"] > 0
    (profile,) = run_json("profile", cnn["dynamic"], "--runs", 1)["profiles"]
    assert profile["outputs"].keys() == result["outputs"].keys()  # the same inputs through the same model:
    for name, output in result["outputs"].items():  # the profiler's buffers are wired as bench's tensors
        assert profile["outputs"][name]["shape"] == output["shape"]
        assert profile["outputs"][name]["checksum"] == pytest.approx(output["checksum"], rel=1e-3, abs=1e-3)
    assert "slowest operators per configuration" in run("bench", cnn["dynamic"], "--runs", 1, "--profile").stdout


def test_a_runtime_without_the_c_api_says_the_profile_is_unavailable(cnn, tmp_path):
    """TensorFlow's own tf.lite interpreter: a real runtime that runs the model but has no profiler to read."""
    inventory = tmp_path / "inventory.yaml"
    host = {"python": str(ROOT / ".venv" / "bin" / "python"), "runtime": "tensorflow", "threads": [1]}
    inventory.write_text(json.dumps({"devices": {"local": host}}))
    result = run("profile", cnn["float32"], "--inventory", inventory, "--runs", 1)
    assert result.exit_code == ExitCode.RUNTIME, result.output
    assert "LiteRT C API" in result.stderr and "tensorflow" in result.stderr
    assert "hint: install ai-edge-litert==2.3.0" in result.stderr
    bench = run_json("bench", cnn["float32"], "--inventory", inventory, "--threads", 1, "--runs", 1, "--profile")
    (config,) = bench["results"]
    assert config["error"] is None and config["profile"]["error"]["code"] == "profiler_unavailable"
    assert any(w.startswith("no profile:") for w in config["warnings"])


PINNED_LAYOUT = """
import ctypes, json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from edgedq_agent import profile
from edgedq_agent.runtime import find_runtime
api = profile.LiteRt(find_runtime())
environment = api.new("LiteRtCreateEnvironment", 0, None)
compiled = profile.Compiled(api, environment, sys.argv[2], 1, True, profiled=True)
compiled.bind({sys.argv[3]: np.zeros([1, 160, 160, 3], np.float32)}, {sys.argv[4]: (np.dtype("float32"), [1, 10])})
api("LiteRtStartProfiler", compiled.profiler)
compiled.run()
api("LiteRtStopProfiler", compiled.profiler)
count = ctypes.c_int()
api("LiteRtGetNumProfilerEvents", compiled.profiler, ctypes.byref(count))
written = 0
for sentinel in (0xCD, 0x5A):  # where the runtime stopped writing: the size of its event struct
    raw = (ctypes.c_uint8 * ((count.value + 2) * 128))(*[sentinel] * ((count.value + 2) * 128))
    api("LiteRtGetProfilerEvents", compiled.profiler, count.value, raw)
    written = max(written, max(i for i, byte in enumerate(bytes(raw)) if byte != sentinel) + 1)
print(json.dumps({"count": count.value, "written": written, "events": compiled.events()}))
"""


def test_the_pinned_internals_of_ai_edge_litert_hold(cnn):
    """The version, the event struct's size and fields, and the option identifiers that turn profiling on."""
    from edgedq_agent import profile

    assert device_runtime_version() == profile.PINNED, "ai-edge-litert changed: check the event layout, then re-pin"
    model = cnn["float32"]
    parsed = flatbuffer.read_model(model.read_bytes())
    main = parsed.subgraphs[0]
    names = [flatbuffer.tensor_name(main.tensors[i]) for i in (main.inputs[0], main.outputs[0])]
    script = [str(DEVICE_PYTHON), "-c", PINNED_LAYOUT, str(ROOT / "device_agents"), str(model), *names]
    done = subprocess.run(script, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout)
    assert found["count"] > 0 and found["written"] == found["count"] * profile.EVENT.itemsize == found["count"] * 104
    events = found["events"]
    xnnpack = [e for e in events if e[0] == 8]  # type, tag, metadata1 (XNNPACK's operator index), ..., elapsed µs
    assert [e[2] for e in xnnpack] == list(range(len(xnnpack))) and all(e[1] for e in xnnpack)
    stages = {e[1]: e[5] for e in events if e[0] == 1}
    assert stages["Invoke"] >= sum(e[5] for e in xnnpack) > 0 and all(e[4] in (0, 1, 2) for e in events)


def test_partitions_map_in_order_and_a_graph_that_does_not_fit_stays_unmapped(sources, converted, tmp_path):
    """TensorFlow's own Optimize.DEFAULT model of conftest's CNN: its hybrid depthwise convolution runs builtin,
    between two XNNPACK partitions."""
    import edgedq
    from edgedq.conversion.sources import make_converter, open_source
    from edgedq.conversion.tf_driver import run_converter
    from edgedq.measure.profile import summarize

    model = tmp_path / "cnn.tf_default.tflite"
    model.write_bytes(run_converter(make_converter(open_source(sources["cnn"])), "tf-default"))
    (profile,) = edgedq.profile([model], "local", edgedq.ProfileOptions(runs=3)).profiles
    types = node_types(model)
    builtin = [op for op in profile.ops if op["delegate"] == "builtin"]
    assert builtin and all(op["type"] == types[op["node"]] == "DEPTHWISE_CONV_2D" for op in builtin)
    partitions = {op["name"].split(":")[0] for op in profile.ops if op["delegate"] == "xnnpack"}
    assert len(partitions) == len(builtin) + 1 and profile.mapping["status"] == "mapped", profile.mapping
    assert {op["node"] for op in profile.ops if op["node"] is not None} == {
        i for i, t in enumerate(types) if t != "RESHAPE"
    }
    # the same events read against another graph (float weights where XNNPACK ran int8 ones): no guess is made
    reply = {"samples_ms": [profile.wall_ms] * profile.runs, "events": profile.events}
    wrong = summarize(converted["cnn"].variant("float32").path, reply)
    assert wrong["mapping"]["status"] == "unmapped" and "no alignment" in wrong["mapping"]["note"]
    assert all(op["node"] is None for op in wrong["ops"] if op["delegate"] == "xnnpack")
