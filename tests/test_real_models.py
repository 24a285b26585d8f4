"""Models as users bring them, through convert -> inspect -> compare -> bench -> eval on local: an open batch, an
open sequence length, recurrent nets, bias-less Dense, two inputs of one shape, a custom layer, two outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgedq.errors import ExitCode
from tests.support import models as builders
from tests.support.cli import run, run_json


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("real-models")
    custom = folder / "custom"
    custom.mkdir()
    return {
        "flatten": builders.flatten_cnn(folder / "flatten.keras"),
        "gru": builders.gru_net(folder / "gru.keras"),
        "lstm": builders.lstm_net(folder / "lstm.h5"),
        "length": builders.dynamic_length_net(folder / "length.keras"),
        "dense": builders.bias_less_dense(folder / "dense.keras"),
        "two": builders.two_input_net(folder / "two.keras"),
        "custom": builders.custom_layer_net(custom),
    }


def convert_json(source: Path, out: Path, *args: object) -> list[dict]:
    result = run_json("convert", source, "-o", out, *args)
    return result if isinstance(result, list) else [result]


def test_an_open_batch_is_fixed_and_xnnpack_takes_the_model_whole(real, tmp_path):
    (fixed,) = convert_json(real["flatten"], tmp_path / "fixed.tflite", "--mode", "float32")
    assert fixed["options"]["batch"] == 1 and fixed["inputs"][0]["shape"] == [1, 12, 12, 3]
    assert fixed["delegation"]["partitions"] == 1 and fixed["delegation"]["fallback_ops"] == {}
    table = run("convert", real["flatten"], "-o", tmp_path / "open.tflite", "--mode", "float32", "--batch", "none")
    assert table.exit_code == 0, table.output
    assert "batch open" in table.stdout and "2 parts" in table.stdout
    assert "XNNPACK splits it into 2 partitions" in table.stderr and "SHAPE" in table.stderr


@pytest.mark.parametrize("net", ["gru", "lstm"])
def test_recurrent_nets_convert_with_a_fixed_batch(net, real, tmp_path):
    data = tmp_path / "data.npz"
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 20, 10)).astype(np.float32) if net == "gru" else rng.integers(0, 50, (8, 20), np.int32)
    np.savez(data, x=x)
    modes = convert_json(real[net], tmp_path / "r.tflite", "--mode", "float32", "--mode", "dynamic", "--data", data)
    assert all(m["fidelity"]["outputs"][0]["cosine_similarity"] > 0.99 for m in modes if m["mode"] == "dynamic")
    report = run_json("inspect", tmp_path / "r.dynamic.tflite")
    delegation = report["delegation"]
    assert "WHILE" in delegation["fallback_ops"]  # the loop runs on builtin kernels: it must not count as delegated
    assert delegation["delegated_nodes"] < delegation["total_nodes"]
    bench = run_json("bench", tmp_path / "r.float32.tflite", tmp_path / "r.dynamic.tflite", "--runs", 3,
                     "--inputs", data)  # fmt: skip
    assert all(r["error"] is None for r in bench["results"])


def test_generated_inputs_a_model_cannot_take_are_a_clear_error(real, tmp_path):
    """Token ids drawn from [0, 256) overflow an embedding of 50: said, with what to give instead."""
    convert_json(real["lstm"], tmp_path / "t.tflite", "--mode", "float32")
    result = run("bench", tmp_path / "t.tflite", "--runs", 2)
    assert result.exit_code == ExitCode.BAD_INPUT and "failed on its generated inputs" in result.stderr, result.output
    assert "--inputs" in result.stderr
    compared = run("compare", tmp_path / "t.tflite", tmp_path / "t.tflite")
    assert compared.exit_code == ExitCode.BAD_INPUT and "--data" in compared.stderr


def test_a_recurrent_net_with_an_open_batch_says_why_it_cannot_convert(real, tmp_path):
    result = run("convert", real["gru"], "-o", tmp_path / "g.tflite", "--batch", "none")
    assert result.exit_code == ExitCode.CONVERSION, result.output
    assert "recurrent" in result.stderr and "--batch 1" in result.stderr
    assert not list(tmp_path.glob("*.tflite"))


def test_a_crash_inside_tensorflow_is_one_line_and_leaves_nothing(real, tmp_path):
    """TensorFlow 2.21's int8 calibrator segfaults on this GRU for real: the child process takes the crash."""
    calibration = tmp_path / "calib.npz"
    np.savez(calibration, x=np.random.default_rng(0).normal(size=(8, 20, 10)).astype(np.float32))
    out = tmp_path / "out"
    result = run("convert", real["gru"], "-o", out / "g.tflite", "--mode", "int8", "--calibration", calibration)
    assert result.exit_code == ExitCode.CONVERSION, result.output
    assert "TensorFlow crashed (SIGSEGV) while converting int8" in result.stderr
    assert "dynamic or float16" in result.stderr and "Traceback" not in result.output
    assert not list(out.glob("*")) if out.exists() else True


def test_bias_less_dense_is_one_partition(real, tmp_path):
    convert_json(real["dense"], tmp_path / "d.tflite")
    delegation = run_json("inspect", tmp_path / "d.tflite")["delegation"]
    assert delegation == {"partitions": 1, "delegated_nodes": 2, "total_nodes": 2, "fallback_ops": {}}


def test_an_open_sequence_length_is_run_at_the_shape_given(real, tmp_path):
    (dynamic,) = convert_json(real["length"], tmp_path / "l.tflite")
    assert dynamic["inputs"][0]["shape"] == [1, -1, 40]
    assert "fidelity" not in dynamic or dynamic["fidelity"] is None  # no shape, no data: not measured, and said
    model = tmp_path / "l.tflite"
    refused = run("bench", model, "--runs", 3)
    assert refused.exit_code == ExitCode.BAD_INPUT and "open dimensions" in refused.stderr
    assert "--input-shape" in refused.stderr
    shaped = run_json("bench", model, "--input-shape", "1,80,40", "--runs", 3)
    assert list(shaped["results"][0]["input_shapes"].values()) == [[1, 80, 40]]
    data = tmp_path / "frames.npz"
    rng = np.random.default_rng(1)
    np.savez(data, x=rng.normal(size=(6, 80, 40)).astype(np.float32), y=rng.integers(0, 4, 6))
    given = run_json("bench", model, "--inputs", data, "--runs", 3)
    assert list(given["results"][0]["input_shapes"].values()) == [[1, 80, 40]]  # taken from the data
    (measured,) = convert_json(real["length"], tmp_path / "m.tflite", "--data", data)
    assert list(measured["fidelity"]["input_shapes"].values()) == [[1, 80, 40]]
    compared = run_json("compare", tmp_path / "m.tflite", model, "--input-shape", "1,33,40")
    assert all(shape == [1, 33, 40] for shape in compared["input_shapes"].values())
    evaluated = run_json("eval", model, "--data", data)
    assert evaluated["candidate"]["count"] == 6


def test_two_inputs_are_matched_by_name_never_by_order(real, tmp_path):
    modes = convert_json(real["two"], tmp_path / "t.tflite", "--mode", "float32", "--mode", "dynamic")
    assert sorted(o["signature_name"] for o in modes[0]["outputs"]) == ["doubled", "tripled"]
    fidelity = modes[1]["fidelity"]["outputs"]
    assert sorted(o["name"] for o in fidelity) == ["doubled", "tripled"]  # per output, under the model's names
    data = tmp_path / "named.npz"
    np.savez(data, image=np.ones((3, 16), np.float32), meta=np.zeros((3, 16), np.float32))
    result = run_json("bench", tmp_path / "t.float32.tflite", "--inputs", data, "--runs", 2)["results"][0]
    assert result["outputs"]["doubled"]["checksum"] == pytest.approx(32.0)  # 2 x 16 ones: image went to image
    assert result["outputs"]["tripled"]["checksum"] == pytest.approx(0.0)
    unnamed = tmp_path / "unnamed.npz"
    np.savez(unnamed, a=np.ones((3, 16), np.float32), b=np.zeros((3, 16), np.float32))
    for command in (
        ("bench", tmp_path / "t.float32.tflite", "--inputs", unnamed, "--runs", 2),
        ("compare", tmp_path / "t.float32.tflite", tmp_path / "t.dynamic.tflite", "--data", unnamed),
        ("convert", real["two"], "-o", tmp_path / "i.tflite", "--mode", "int8", "--calibration", unnamed),
    ):
        refused = run(*command)
        assert refused.exit_code in (ExitCode.BAD_INPUT, ExitCode.RUNS_FAILED, ExitCode.AGENT), refused.output
        assert "'image'" in refused.output and "'meta'" in refused.output, refused.output
    calibrated = convert_json(real["two"], tmp_path / "q.tflite", "--mode", "int8", "--calibration", data)
    assert calibrated[0]["quantization"]["calibration_samples"] == 3


def test_a_custom_layer_needs_its_module(real, tmp_path, monkeypatch):
    monkeypatch.chdir(real["custom"].parent)  # where my_layers.py is importable from, as for a user
    missing = run("convert", real["custom"], "-o", tmp_path / "c.tflite")
    assert missing.exit_code == ExitCode.BAD_INPUT and "--custom-objects" in missing.stderr, missing.output
    assert "model.export" in missing.stderr
    (converted,) = convert_json(real["custom"], tmp_path / "c.tflite", "--custom-objects", "my_layers:Scale")
    assert converted["options"]["custom_objects"] == ["my_layers:Scale"]
    assert run_json("bench", tmp_path / "c.tflite", "--runs", 2)["results"][0]["error"] is None


def test_a_classifier_from_a_user_evaluated_with_named_classes(real, tmp_path):
    convert_json(real["flatten"], tmp_path / "f.tflite", "--mode", "float32")
    rng = np.random.default_rng(2)
    data = tmp_path / "labelled.npz"
    np.savez(data, x=rng.uniform(0, 1, (20, 12, 12, 3)).astype(np.float32), y=rng.integers(0, 4, 20))
    result = run("eval", tmp_path / "f.tflite", "--data", data, "--classes", "cat,dog,owl,fox", "--json")
    report = json.loads(result.stdout)
    assert report["candidate"]["classes"] == ["cat", "dog", "owl", "fox"]
    assert "classes by label: 0=cat, 1=dog, 2=owl, 3=fox" in report["notes"]
