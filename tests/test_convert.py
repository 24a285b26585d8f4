"""edgedq.convert on real TensorFlow conversions of small models."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import edgedq
from edgedq.conversion.dynamic_range import DynamicRangeRecipe, quantize_dynamic_range, quantize_per_channel
from edgedq.errors import BadInput
from edgedq.files import sha256_file
from edgedq.tflite import flatbuffer
from edgedq.tflite.inspection import measure_delegation


def test_every_mode_writes_a_model_and_manifest(converted):
    result = converted["cnn"]
    assert [v.mode for v in result.variants] == list(edgedq.MODES)
    for variant in result.variants:
        assert variant.path.name == f"cnn.{variant.mode}.tflite"
        assert variant.path.is_file()
        on_disk = json.loads(variant.manifest_path.read_text())
        assert on_disk["mode"] == variant.mode
        assert on_disk["source"]["sha256"] == result.source.sha256
        assert on_disk["model"]["size_bytes"] == variant.path.stat().st_size
        assert on_disk["versions"]["tensorflow"].startswith("2.")
        assert on_disk["inputs"][0]["shape"] == [1, 32, 32, 3]  # a fixed batch: --batch 1 by default
        assert on_disk["options"]["batch"] == 1
        assert on_disk["inputs"][0]["dtype"] == "float32"
    sizes = {v.mode: v.manifest["model"]["size_vs_float32"] for v in result.variants}
    assert sizes["float32"] == 1.0
    assert sizes["dynamic"] < 0.45 and sizes["int8"] < 0.45 and sizes["float16"] < 0.7


def test_dynamic_quantizes_conv_and_dense_but_not_depthwise(converted):
    ops = converted["cnn"].variant("dynamic").manifest["ops"]
    assert ops["CONV_2D"]["hybrid"] == 2  # stem (3456 weights) and pointwise (16384)
    assert ops["FULLY_CONNECTED"]["hybrid"] == 1  # 1280 weights
    assert ops["DEPTHWISE_CONV_2D"]["hybrid"] == 0
    assert "int8" not in ops["DEPTHWISE_CONV_2D"]["weight_dtypes"]


@pytest.mark.parametrize("name", ["cnn", "dense", "kws"])
def test_dynamic_is_one_xnnpack_partition_and_faithful(converted, name):
    variant = converted[name].variant("dynamic")
    _, delegation = measure_delegation(variant.path)
    assert delegation["partitions"] == 1
    assert delegation["delegated_nodes"] == delegation["total_nodes"]
    fidelity = variant.manifest["fidelity"]["outputs"][0]
    assert 0.99 <= fidelity["cosine_similarity"] <= 1.0
    assert fidelity["max_abs_error"] > 0  # it really is quantized


def test_tensorflow_default_splits_depthwise_out_of_xnnpack(tf_default):
    """The problem edgedq's recipe exists for: TF's own hybrid depthwise conv falls back, alone."""
    _, delegation = measure_delegation(tf_default["cnn"])
    assert delegation["fallback_ops"] == {"DEPTHWISE_CONV_2D": 1}
    assert delegation["partitions"] == 2
    nodes = len(flatbuffer.read_model(tf_default["cnn"].read_bytes()).subgraphs[0].operators)
    assert (delegation["total_nodes"], delegation["delegated_nodes"]) == (nodes, nodes - 1)


def test_delegation_is_counted_whatever_the_tensor_numbers(converted, tmp_path):
    """The model's output renumbered as tensor 0 (another converter's order): one partition still covers every node."""
    from tests.support.rewrites import renumbered

    data = converted["cnn"].variant("dynamic").path.read_bytes()
    graph = flatbuffer.read_model(data).subgraphs[0]
    path = tmp_path / "renumbered.tflite"
    path.write_bytes(renumbered(data, int(graph.outputs[0])))
    _, delegation = measure_delegation(path)
    nodes = len(graph.operators)
    assert delegation == {"partitions": 1, "delegated_nodes": nodes, "total_nodes": nodes, "fallback_ops": {}}


def test_fallback_ops_are_counted_per_node(tmp_path):
    """Two depthwise convolutions left to builtin kernels are two fallback nodes, between three partitions."""
    from edgedq.conversion.sources import make_converter, open_source
    from edgedq.conversion.tf_driver import run_converter
    from tests.support.models import two_depthwise_cnn

    source = two_depthwise_cnn(tmp_path / "two.keras")
    path = tmp_path / "tf_default.tflite"
    path.write_bytes(run_converter(make_converter(open_source(source)), "tf-default"))
    _, delegation = measure_delegation(path)
    assert delegation["fallback_ops"] == {"DEPTHWISE_CONV_2D": 2}
    assert delegation["delegated_nodes"] == delegation["total_nodes"] - 2


def test_int8_is_fully_integer_with_float_interface(converted):
    manifest = converted["cnn"].variant("int8").manifest
    assert manifest["quantization"]["calibration_samples"] == 16
    assert manifest["inputs"][0]["dtype"] == "float32"
    assert "float32" not in manifest["ops"]["CONV_2D"]["weight_dtypes"]
    assert manifest["ops"]["CONV_2D"]["hybrid"] == 0
    assert manifest["fidelity"]["outputs"][0]["cosine_similarity"] > 0.9


def test_second_conversion_is_cached_and_skips_tensorflow(sources, converted, tmp_path):
    """In a fresh process: a cached convert neither imports TensorFlow nor starts the converting child."""
    script = f"""
import json, sys
import edgedq
started = []
sys.addaudithook(lambda event, args: started.append(str(args[1])) if event == "subprocess.Popen" else None)
again = edgedq.convert({str(sources["dense"])!r}, {str(tmp_path / "again.tflite")!r}, ["dynamic", "float32"])
print(json.dumps({{"cached": [v.cached for v in again.variants], "log": again.tensorflow_log, "started": started,
                  "tensorflow": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {"cached": [True, True], "log": "", "started": [], "tensorflow": []}
    first = converted["dense"].variant("dynamic")
    assert (tmp_path / "again.dynamic.tflite").read_bytes() == first.path.read_bytes()


def test_changed_options_miss_the_cache(sources, tmp_path):
    result = edgedq.convert(sources["dense"], tmp_path / "keep.tflite", keep_float="FULLY_CONNECTED")
    variant = result.variants[0]
    assert not variant.cached
    assert variant.manifest["ops"]["FULLY_CONNECTED"]["hybrid"] == 0
    kept = {"matched --keep-float": 1, "fewer than 1024 weights": 1}  # the 128x5 output layer is small
    assert variant.manifest["quantization"]["kept_float"] == kept
    recipe = {"op_types": ["CONV_2D", "FULLY_CONNECTED"], "min_weight_elements": 1024, "keep_float": "FULLY_CONNECTED"}
    assert variant.manifest["quantization"]["recipe"] == recipe


def test_keep_float_by_tensor_name(converted):
    float_model = converted["cnn"].variant("float32").path.read_bytes()
    model = flatbuffer.read_model(float_model)
    names = [flatbuffer.tensor_name(t) for t in model.subgraphs[0].tensors]
    (pointwise,) = [name for name in names if ";" not in name and name.endswith("/pointwise_1/convolution")]
    data, report = quantize_dynamic_range(float_model, DynamicRangeRecipe(keep_float="/pointwise_1/"))
    assert pointwise not in [q.tensor for q in report.quantized]
    assert {q.op_type for q in report.quantized} == {"CONV_2D", "FULLY_CONNECTED"}
    assert report.kept_float == {"matched --keep-float": 1}
    assert len(data) > len(quantize_dynamic_range(float_model, DynamicRangeRecipe())[0])


def test_the_weight_threshold_counts_a_tensor_of_exactly_that_size_in(converted):
    """README: weights "with at least 1024 elements" are quantized; the cnn's dense layer has exactly 1280."""
    float_model = converted["cnn"].variant("float32").path.read_bytes()
    assert DynamicRangeRecipe().min_weight_elements == 1024
    _, at = quantize_dynamic_range(float_model, DynamicRangeRecipe(min_weight_elements=1280))
    _, above = quantize_dynamic_range(float_model, DynamicRangeRecipe(min_weight_elements=1281))
    assert [(q.op_type, q.elements) for q in at.quantized if q.op_type == "FULLY_CONNECTED"] == [
        ("FULLY_CONNECTED", 1280)
    ]
    assert "FULLY_CONNECTED" not in {q.op_type for q in above.quantized}
    assert above.kept_float == {"fewer than 1281 weights": 1}


def test_per_channel_quantization_is_symmetric_and_bounded():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(8, 3, 3, 4)).astype(np.float32)
    weights[3] = 0.0  # an all-zero channel must not divide by zero
    quantized, scales = quantize_per_channel(weights)
    assert quantized.dtype == np.int8 and scales.shape == (8,)
    assert np.abs(quantized).max() == 127 and quantized.min() >= -127
    restored = quantized.astype(np.float32) * scales[:, None, None, None]
    per_channel_step = scales[:, None, None, None] / 2
    assert np.all(np.abs(restored - weights) <= per_channel_step + 1e-7)
    assert np.all(quantized[3] == 0) and np.all(scales > 0)
    # each channel's own largest weight is its +-127: the whole int8 range, channel by channel
    assert np.abs(quantized).reshape(8, -1).max(axis=1).tolist() == [127, 127, 127, 0, 127, 127, 127, 127]


def _quantized_ops(model) -> list[tuple]:
    """Each CONV_2D and FULLY_CONNECTED as it is written: op version, weight type, quantized dimension, scales,
    zero points, per-input asymmetric quantization."""
    found = []
    for ref in flatbuffer.iter_ops(model):
        if ref.op_type in ("CONV_2D", "FULLY_CONNECTED"):
            weights = model.subgraphs[ref.subgraph].tensors[ref.operator.inputs[1]]
            quantization = weights.quantization
            version = model.operatorCodes[ref.operator.opcodeIndex].version
            scales, zero_points = np.asarray(quantization.scale), np.asarray(quantization.zeroPoint)
            asymmetric = getattr(ref.operator.builtinOptions, "asymmetricQuantizeInputs", None)
            found.append((ref.op_type, version, flatbuffer.type_name(weights.type), quantization.quantizedDimension,
                          scales.round(9).tolist(), set(zero_points.tolist()), asymmetric))  # fmt: skip
    return found


def test_the_rewrite_writes_its_ops_as_tensorflows_own_hybrid_ops(converted, tf_default):
    """Where TF's Optimize.DEFAULT and edgedq's recipe both quantize an op, it is written as TF writes it: the same
    op version (runtimes choose kernels by it), int8 weights per output channel (dimension 0, zero points 0) with
    TF's scales, and per-input asymmetric quantization on FULLY_CONNECTED."""
    float32 = converted["cnn"].variant("float32").path.read_bytes()
    ours = flatbuffer.read_model(quantize_dynamic_range(float32, DynamicRangeRecipe())[0])
    theirs = flatbuffer.read_model(tf_default["cnn"].read_bytes())
    assert [op[0] for op in _quantized_ops(ours)] == ["CONV_2D", "CONV_2D", "FULLY_CONNECTED"]
    assert _quantized_ops(ours) == _quantized_ops(theirs)


def _run(path: Path, feed: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], feed)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).astype(np.float64)


@pytest.mark.parametrize("name", ["cnn", "dense", "kws"])
def test_the_rewrite_runs_whole_on_xnnpack_close_to_float32_and_reports_its_real_error(converted, name, tmp_path):
    """The rewrite itself (the cached variants were made by it in an earlier run): XNNPACK takes every node, the
    outputs stay close to float32's, and each weight's reported error is that of the int8 values written."""
    float_path = converted[name].variant("float32").path
    float_model = flatbuffer.read_model(float_path.read_bytes())
    data, report = quantize_dynamic_range(float_path.read_bytes(), DynamicRangeRecipe())
    path = tmp_path / "dynamic.tflite"
    path.write_bytes(data)
    _, delegation = measure_delegation(path)
    nodes = len(float_model.subgraphs[0].operators)
    assert (delegation["partitions"], delegation["delegated_nodes"], delegation["total_nodes"]) == (1, nodes, nodes)
    shape = flatbuffer.read_model(data).subgraphs[0].tensors[float_model.subgraphs[0].inputs[0]].shape
    feed = np.random.default_rng(0).normal(size=list(shape)).astype(np.float32)
    expected, got = _run(float_path, feed), _run(path, feed)
    cosine = float((expected * got).sum() / np.linalg.norm(expected) / np.linalg.norm(got))
    assert 0.99 <= cosine <= 1.0 + 1e-9 and np.abs(expected - got).max() > 0
    model = flatbuffer.read_model(data)
    float_tensors, tensors = float_model.subgraphs[0].tensors, model.subgraphs[0].tensors
    originals = {flatbuffer.tensor_name(t): flatbuffer.buffer_array(float_model, t) for t in float_tensors}
    written = {flatbuffer.tensor_name(t): t for t in tensors if flatbuffer.type_name(t.type) == "int8"}
    assert sorted(q.tensor for q in report.quantized) == sorted(written)
    for weight in report.quantized:
        tensor, original = written[weight.tensor], originals[weight.tensor]
        scales = np.asarray(tensor.quantization.scale).reshape((-1,) + (1,) * (original.ndim - 1))
        restored = flatbuffer.buffer_array(model, tensor).astype(np.float32) * scales.astype(np.float32)
        assert weight.elements == original.size
        assert weight.max_abs_error == pytest.approx(np.abs(restored - original).max(), rel=1e-6)


def test_weights_it_cannot_quantize_are_left_as_they_are_with_the_reason():
    """A float16 model (weights behind DEQUANTIZE nodes, ops of one input) as a user brings it: nothing is touched."""
    from tests.support import ROOT

    source = (ROOT / ".cache" / "pretrained" / "face_detection_front.tflite").read_bytes()
    model = flatbuffer.read_model(source)
    convs = sum(ref.op_type == "CONV_2D" for ref in flatbuffer.iter_ops(model))
    data, report = quantize_dynamic_range(source, DynamicRangeRecipe())
    assert report.quantized == [] and report.kept_float == {"weights not constant float32": convs} and convs > 0
    assert [flatbuffer.type_name(t.type) for t in flatbuffer.read_model(data).subgraphs[0].tensors] == [
        flatbuffer.type_name(t.type) for t in model.subgraphs[0].tensors
    ]


def test_an_already_quantized_model_is_not_quantized_again(converted):
    dynamic = converted["cnn"].variant("dynamic").path.read_bytes()
    _, report = quantize_dynamic_range(dynamic, DynamicRangeRecipe())
    assert report.quantized == [] and report.kept_float == {"weights not constant float32": 3}


def test_the_rewrite_does_not_depend_on_tensor_numbers(converted):
    """The dense layer's weights renumbered as tensor 0 (another converter's order) are quantized all the same."""
    from tests.support.rewrites import renumbered

    float32 = converted["cnn"].variant("float32").path.read_bytes()
    model = flatbuffer.read_model(float32)
    (dense,) = [ref for ref in flatbuffer.iter_ops(model) if ref.op_type == "FULLY_CONNECTED"]
    moved = renumbered(float32, int(dense.operator.inputs[1]))
    _, plain = quantize_dynamic_range(float32, DynamicRangeRecipe())
    _, report = quantize_dynamic_range(moved, DynamicRangeRecipe())
    assert [(q.op_type, q.tensor, q.elements) for q in report.quantized] == [
        (q.op_type, q.tensor, q.elements) for q in plain.quantized
    ]
    assert len(report.quantized) == 3


def test_a_keep_float_that_is_not_a_regular_expression_is_refused_at_once():
    with pytest.raises(BadInput, match="not a valid regular expression"):
        DynamicRangeRecipe(keep_float="conv(")


def test_output_names_follow_modes(tmp_path: Path):
    from edgedq.conversion.pipeline import output_paths

    assert output_paths(tmp_path / "m.tflite", ["dynamic"]) == {"dynamic": tmp_path / "m.tflite"}
    assert output_paths(tmp_path / "m.tflite", ["dynamic", "int8"])["int8"] == tmp_path / "m.int8.tflite"


def test_file_hash_follows_the_file_not_the_cache(tmp_path):
    """sha256_file is memoized per file version: a same-size rewrite must give the new content's hash.

    (The sleep steps past a coarse file-timestamp tick, which older kernels keep at a few ms.)
    """
    path = tmp_path / "model.tflite"
    path.write_bytes(b"a" * 4096)
    first = sha256_file(path)
    assert sha256_file(path) == first == hashlib.sha256(b"a" * 4096).hexdigest()
    time.sleep(0.02)
    path.write_bytes(b"b" * 4096)  # in place: same inode, same size
    assert sha256_file(path) == hashlib.sha256(b"b" * 4096).hexdigest()
    replacement = tmp_path / "new.tflite"
    replacement.write_bytes(b"c" * 4096)
    replacement.replace(path)  # atomically replaced, as edgedq writes: a new inode
    assert sha256_file(path) == hashlib.sha256(b"c" * 4096).hexdigest()


def test_one_mode_may_be_a_string(sources, converted, tmp_path):
    """modes="dynamic" is one mode, not the letters d, y, n ... (cached, so no TensorFlow)."""
    result = edgedq.convert(sources["dense"], tmp_path / "one.tflite", modes="dynamic")
    assert [v.mode for v in result.variants] == ["dynamic"] and result.variants[0].cached
    assert result.as_dict()["variants"][0]["path"] == str(tmp_path / "one.tflite")
