"""The CLI of convert, inspect and compare, through Click's CliRunner."""

from __future__ import annotations

import json
import os
import stat

from tests.support.cli import run


def invoke(*args: str):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def test_convert_json_prints_the_manifest(sources, converted, tmp_path):
    result = invoke("convert", str(sources["kws"]), "-o", str(tmp_path / "k.tflite"), "--json")
    manifest = json.loads(result.stdout)
    assert manifest["mode"] == "dynamic" and manifest["source"]["kind"] == "saved_model"
    assert manifest["model"]["path"] == str(tmp_path / "k.tflite")
    assert (tmp_path / "k.tflite.json").is_file()


def test_convert_table_says_cached(sources, converted, tmp_path):
    result = invoke(
        "convert", str(sources["dense"]), "-o", str(tmp_path / "d.tflite"), "--mode", "dynamic", "--mode", "float32"
    )
    assert "cached" in result.stdout and "dynamic" in result.stdout
    assert "nothing was converted" in result.stderr


def test_all_modes_without_calibration_skips_int8(sources, converted, tmp_path):
    result = invoke("convert", str(sources["cnn"]), "-o", str(tmp_path / "c.tflite"), "--all", "--json")
    assert [m["mode"] for m in json.loads(result.stdout)] == ["dynamic", "float32", "float16"]


def test_inspect_json_and_table(converted):
    path = str(converted["cnn"].variant("dynamic").path)
    report = json.loads(invoke("inspect", path, "--json", "--tensors").stdout)
    assert report["delegation"]["partitions"] == 1
    assert any(t["dtype"] == "int8" and len(t["scale"]) == 128 for t in report["tensors"])
    table = invoke("inspect", path, "--tensors").stdout
    assert "CONV_2D" in table and "XNNPACK delegation" in table and "128 values" in table


def test_compare_json(converted):
    cnn = converted["cnn"]
    data = json.loads(
        invoke(
            "compare", str(cnn.variant("float32").path), str(cnn.variant("dynamic").path), "--samples", "8", "--json"
        ).stdout
    )
    assert data["samples"] == 8
    assert 0.99 < data["outputs"][0]["cosine_similarity"] <= 1.0


def test_outputs_follow_the_umask_not_a_private_mode(sources, converted, tmp_path):
    old = os.umask(0o022)
    try:
        invoke("convert", str(sources["dense"]), "-o", str(tmp_path / "shared.tflite"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.tflite").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "shared.tflite.json").stat().st_mode) == 0o644


def test_convert_says_what_it_skipped_and_what_stayed_float(sources, converted, tmp_path):
    everything = invoke("convert", str(sources["dense"]), "-o", str(tmp_path / "all.tflite"), "--all")
    assert "int8 skipped: it needs representative inputs (--calibration" in everything.stderr
    kept = invoke("convert", str(sources["dense"]), "-o", str(tmp_path / "kept.tflite"), "--keep-float", ".")
    assert "no weight was quantized" in kept.stderr and "it is float32" in kept.stderr
    assert "generated: floats ~ Uniform(-1, 1)" in kept.stdout  # which inputs fidelity was measured on
    assert "1.0000" in everything.stdout or "0.999" in everything.stdout  # five significant digits, not "1"
