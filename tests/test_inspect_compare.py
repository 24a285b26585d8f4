"""inspect's figures and compare's statistics, checked against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import edgedq


def test_inspect_reports_ops_weights_and_delegation(converted):
    report = edgedq.inspect_model(converted["cnn"].variant("dynamic").path)
    d = report.description
    assert d.ops["CONV_2D"].count == 2 and d.ops["CONV_2D"].hybrid == 2
    assert d.weight_bytes["int8"] == 128 * 27 + 128 * 128 + 10 * 128
    assert report.delegation == {"partitions": 1, "delegated_nodes": 5, "total_nodes": 5, "fallback_ops": {}}
    assert report.warnings == []
    per_channel = [t for t in d.tensors if t.dtype == "int8"]
    assert {len(t.scale) for t in per_channel} == {128, 10}
    assert all(t.quantized_dimension == 0 and set(t.zero_point) == {0} for t in per_channel)


def test_inspect_float16_weights(converted):
    """float16 stores every float32 weight at half the bytes, each behind a DEQUANTIZE, the graph otherwise alike."""
    half = edgedq.inspect_model(converted["cnn"].variant("float16").path).description
    full = edgedq.inspect_model(converted["cnn"].variant("float32").path).description
    assert half.weight_bytes["float16"] * 2 == full.weight_bytes["float32"] and "float32" not in half.weight_bytes
    assert {op: c.count for op, c in half.ops.items() if op != "DEQUANTIZE"} == {
        op: c.count for op, c in full.ops.items()
    }
    stored_half = [t for t in half.tensors if t.dtype == "float16"]
    assert half.ops["DEQUANTIZE"].count == len(stored_half) == 5  # three conv filters, the dense weights, a bias


def test_compare_identical_models_is_exact(converted):
    path = converted["cnn"].variant("float32").path
    result = edgedq.compare(path, path, samples=4)
    output = result.outputs[0]
    assert (output.max_abs_error, output.mean_abs_error, output.top1_agreement) == (0.0, 0.0, 1.0)
    assert output.cosine_similarity == pytest.approx(1.0)


def test_an_open_batch_compares_with_a_fixed_one_and_a_fixed_size_that_differs_does_not(sources, converted, tmp_path):
    """TensorFlow's own model keeps Keras's open batch, edgedq's fixes it at 1: the two compare at one shape."""
    from edgedq.conversion.sources import make_converter, open_source
    from edgedq.conversion.tf_driver import run_converter

    fixed, open_batch = converted["cnn"].variant("float32").path, tmp_path / "cnn.as_saved.tflite"
    open_batch.write_bytes(run_converter(make_converter(open_source(sources["cnn"]), batch=None), "float32"))
    (signature,) = [d["shape_signature"].tolist() for d in Interpreter(str(open_batch)).get_input_details()]
    assert signature == [-1, 32, 32, 3]
    for reference, candidate in ((fixed, open_batch), (open_batch, fixed)):
        result = edgedq.compare(reference, candidate, samples=4)
        assert list(result.input_shapes.values()) == [[1, 32, 32, 3]] and result.outputs[0].cosine_similarity > 0.99
    with pytest.raises(edgedq.EdgedqError, match="the models' inputs differ"):
        edgedq.compare(fixed, converted["dense"].variant("float32").path)


def test_compare_matches_a_hand_computation(converted, tmp_path):
    ref_path = converted["cnn"].variant("float32").path
    cand_path = converted["cnn"].variant("dynamic").path
    x = np.random.default_rng(9).uniform(0, 1, (6, 32, 32, 3)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x)
    result = edgedq.compare(ref_path, cand_path, data=tmp_path / "data.npz")

    def outputs(path):
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        interpreter.allocate_tensors()
        rows = []
        for example in x:
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], example[None])
            interpreter.invoke()
            rows.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0].astype(np.float64))
        return np.array(rows)

    a, b = outputs(ref_path), outputs(cand_path)
    cosines = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    output = result.outputs[0]
    assert result.samples == 6
    assert output.max_abs_error == pytest.approx(np.abs(a - b).max(), rel=1e-5)
    assert output.mean_abs_error == pytest.approx(np.abs(a - b).mean(), rel=1e-5)
    assert output.cosine_similarity == pytest.approx(cosines.mean(), rel=1e-6)
    assert output.top1_agreement == pytest.approx((a.argmax(1) == b.argmax(1)).mean())


def test_compare_defaults_to_generated_inputs(converted):
    result = edgedq.compare(converted["kws"].variant("float32").path, converted["kws"].variant("dynamic").path)
    assert result.samples == 32 and "seed 0" in result.inputs
    assert result.outputs[0].top1_agreement is not None  # [1, 12] is classifier-shaped
    assert result.worst_cosine > 0.99


def test_compare_of_a_non_classifier_has_no_top1():
    from edgedq.tflite.compare import _pair_errors

    assert _pair_errors(np.ones((1, 4, 4)), np.ones((1, 4, 4)))[3] is None
    assert _pair_errors(np.array([[0.1, 0.9]]), np.array([[0.2, 0.8]]))[3] is True
