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


def test_tensorflow_default_splits_depthwise_out_of_xnnpack(sources, tmp_path):
    """The problem edgedq's recipe exists for: TF's own hybrid depthwise conv falls back."""
    from edgedq.conversion.sources import make_converter, open_source
    from edgedq.conversion.tf_driver import run_converter

    data = run_converter(make_converter(open_source(sources["cnn"])), "tf-default")
    path = tmp_path / "tf_default.tflite"
    path.write_bytes(data)
    _, delegation = measure_delegation(path)
    assert delegation["fallback_ops"] == {"DEPTHWISE_CONV_2D": 1}
    assert delegation["partitions"] == 2


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
    assert np.all(quantized[3] == 0)


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
