"""edgedq bench and edgedq devices through the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgedq.errors import ExitCode
from edgedq.files import sha256_file
from tests.support import DEVICE_PYTHON, device_runtime_version
from tests.support.cli import run, run_json
from tests.support.models import custom_op_model

RESULT_KEYS = {
    "model",
    "model_sha256",
    "device",
    "threads",
    "xnnpack",
    "latency_ms",
    "samples_ms",
    "init_ms",
    "first_inference_ms",
    "memory_mb",
    "delegation",
    "device_facts",
    "thermal",
}


def test_bench_json_shape(converted):
    cnn = converted["cnn"]
    result = run(
        "bench",
        str(cnn.variant("float32").path),
        str(cnn.variant("dynamic").path),
        "--threads",
        "1",
        "--runs",
        "6",
        "--json",
    )
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)["results"]
    assert len(results) == 2
    for item, mode in zip(results, ("float32", "dynamic"), strict=True):
        assert set(item) >= RESULT_KEYS
        assert item["model"] == str(cnn.variant(mode).path) and item["device"] == "local"
        assert item["model_sha256"] == sha256_file(cnn.variant(mode).path)
        assert (item["threads"], item["xnnpack"]) == (1, True)
        samples = np.array(item["samples_ms"])
        assert len(samples) == 6 and (samples > 0).all()
        stats = item["latency_ms"]
        assert set(stats) == {"mean", "std", "min", "max", "p50", "p90", "p95", "p99"}
        assert (stats["min"], stats["max"]) == (samples.min(), samples.max())
        assert stats["p50"] == pytest.approx(np.percentile(samples, 50))
        assert stats["mean"] == pytest.approx(samples.mean())
        assert item["init_ms"] > 0 and item["first_inference_ms"] > 0
        memory = item["memory_mb"]
        assert memory["peak_rss"] >= memory["pss"] >= memory["uss"] > 0 and memory["model_delta"] >= 0
        assert item["delegation"] == {"partitions": 1, "delegated_nodes": 5, "total_nodes": 5, "fallback_ops": {}}
        assert set(item["thermal"]) >= {"before", "after", "throttled"}
        assert item["thermal"]["throttled"] == []  # no Raspberry Pi throttle bits on this host: none reported
    assert results[0]["device_facts"]["cores"] >= 1


def test_bench_table_compares_side_by_side(converted):
    cnn = converted["cnn"]
    result = run(
        "bench", str(cnn.variant("float32").path), str(cnn.variant("dynamic").path), "--threads", "1", "--runs", "5"
    )
    assert result.exit_code == 0, result.output
    assert "vs float32" in result.stdout and "1.00x" in result.stdout and "cnn.dynamic.tflite" in result.stdout


def test_bench_converts_a_source_first(sources, converted, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("bench", str(sources["dense"]), "--threads", "1", "--runs", "3", "--json")
    assert result.exit_code == 0, result.output
    models = [r["model"] for r in json.loads(result.stdout)["results"]]
    assert [m.rsplit("/", 1)[-1] for m in models] == ["dense.float32.tflite", "dense.dynamic.tflite"]


def test_bench_reports_failed_configurations_with_exit_code(converted, tmp_path):
    unloadable = custom_op_model(converted["dense"].variant("float32").path, tmp_path / "custom.tflite")
    good = converted["dense"].variant("dynamic").path
    result = run("bench", str(unloadable), str(good), "--threads", "1", "--runs", "3", "--json")
    assert result.exit_code == ExitCode.RUNS_FAILED
    results = json.loads(result.stdout)["results"]
    assert results[0]["error"]["code"] == "custom_op_missing"
    assert results[1]["error"] is None and results[1]["latency_ms"]["p50"] > 0
    assert "1 of 2 configurations failed" in result.stderr


def test_a_file_that_is_not_a_model_is_refused_before_anything_runs(converted, tmp_path):
    not_a_model = tmp_path / "notes.tflite"
    not_a_model.write_text("hello")
    good = converted["dense"].variant("dynamic").path
    result = run("bench", str(not_a_model), str(good), "--threads", "1", "--runs", "3", "--json")
    assert result.exit_code == ExitCode.BAD_INPUT and "not a TFLite model" in result.stderr
    assert result.stdout == ""


def test_bench_missing_model(tmp_path):
    result = run("bench", str(tmp_path / "missing.tflite"))
    assert result.exit_code == ExitCode.BAD_INPUT and "no such model file" in result.stderr


def test_unknown_device_lists_the_known_ones(converted):
    result = run("bench", str(converted["dense"].variant("dynamic").path), "--device", "pi9")
    assert result.exit_code == ExitCode.DEVICE
    assert "unknown device 'pi9'" in result.stderr and "local" in result.stderr


def test_devices_lists_local_and_the_inventory(tmp_path):
    inventory = tmp_path / "devices.yaml"
    inventory.write_text("devices:\n  pi4:\n    host: 192.0.2.4\n    user: pi\n    threads: [1, 4]\n    tags: [lab]\n")
    result = run("devices", "list", "--inventory", str(inventory), "--json")
    assert result.exit_code == 0, result.output
    names = {d["name"]: d for d in json.loads(result.stdout)["devices"]}
    assert set(names) == {"local", "pi4"} and names["pi4"]["threads"] == [1, 4]


def test_inventory_errors_name_the_field(tmp_path):
    inventory = tmp_path / "devices.yaml"
    inventory.write_text("devices:\n  pi4:\n    host: h\n    prot: 22\n")
    result = run("devices", "list", "--inventory", str(inventory))
    assert result.exit_code == ExitCode.DEVICE and "unknown field 'prot'" in result.stderr
    inventory.write_text("devices:\n  pi4:\n    host: h\n    port: '22'\n")
    result = run("devices", "list", "--inventory", str(inventory))
    assert result.exit_code == ExitCode.DEVICE and "'port' must be int" in result.stderr


def test_devices_check_local_loads_and_runs_the_runtime():
    check = run_json("devices", "check", "local")
    assert check["ready"] and check["runtime_error"] is None
    expected = {"name": "ai_edge_litert", "version": device_runtime_version()}
    assert check["probe"]["runtime"] == check["facts"]["runtime"] == expected
    assert check["probe"]["probe_ms"] > 0
    assert set(check["probe"]) == {"runtime", "runtime_load_ms", "probe_ms", "delegation"}  # no protocol envelope


def test_devices_check_says_a_runtime_that_does_not_load_is_not_ready(tmp_path, monkeypatch):
    """A broken install made for real on disk: ai_edge_litert is there, its native interpreter cannot load.

    (A wheel for a newer glibc fails this way on an old board; such a board is not at hand, so the
    package's import error is written here.)
    """
    package = tmp_path / "site" / "ai_edge_litert"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('__version__ = "2.3.0"\n')
    (package / "interpreter.py").write_text('raise ImportError("libLiteRt.so: cannot open shared object file")\n')
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={tmp_path / "site"} exec {DEVICE_PYTHON} "$@"\n')
    python.chmod(0o755)
    monkeypatch.setenv("EDGEDQ_LOCAL_PYTHON", str(python))
    result = run("devices", "check", "local")
    assert result.exit_code == ExitCode.RUNTIME, result.output
    assert "NOT ready" in result.output and "does not load or run" in result.output
    assert "libLiteRt.so: cannot open shared object file" in result.stderr
    assert "pip install numpy ai-edge-litert" in result.stderr and "make setup" in result.stderr
