"""edgedq eval: scoring by hand, a model of known accuracy on local and on the sshd board, folders of data."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from edgedq_agent import frontend
from PIL import Image

from edgedq.errors import ExitCode
from edgedq.measure.datasets import load_dataset
from edgedq.measure.evaluate import run_samples, score
from tests.support.cli import run, run_json


def test_score_by_hand():
    labels = np.array([0, 0, 1, 1, 2, 2])
    predictions = [[0, 1], [1, 0], [1, 2], [1, 0], [2, 0], [0, 2]]
    accuracy = score("m", predictions, labels, ["a", "b", "c"])
    assert accuracy.top1 == pytest.approx(4 / 6) and accuracy.top5 is None
    assert accuracy.confusion == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert accuracy.precision == pytest.approx([0.5, 2 / 3, 1.0])
    assert accuracy.recall == pytest.approx([0.5, 1.0, 0.5])


def test_score_counts_classes_past_the_named_ones_and_top5_only_past_five_classes():
    unnamed_label = score("m", [[0, 1], [0, 1]], np.array([0, 2]), ["a"])  # label 2: a third class
    assert unnamed_label.classes == ["a", "1", "2"] and unnamed_label.confusion == [[1, 0, 0], [0, 0, 0], [1, 0, 0]]
    unnamed_guess = score("m", [[0, 1], [2, 0]], np.array([0, 0]), ["a"])  # class 2 predicted
    assert unnamed_guess.classes == ["a", "1", "2"] and unnamed_guess.confusion == [[1, 0, 1], [0, 0, 0], [0, 0, 0]]
    assert unnamed_guess.precision == [1.0, None, 0.0] and unnamed_guess.recall == [0.5, None, None]
    ranked = [[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, 0]]  # the true class 5th, then 6th
    assert score("m", ranked, np.array([4, 0]), list("abcdef")).top5 == 0.5
    assert score("m", [r[:5] for r in ranked], np.array([4, 0]), list("abcde")).top5 is None  # 5 classes: no top-5
    empty = score("m", [], np.array([], dtype=np.int64), ["a", "b"])
    assert (empty.count, empty.top1, empty.confusion, empty.precision) == (0, 0.0, [[0, 0], [0, 0]], [None, None])


@pytest.fixture(scope="module")
def known_data(tmp_path_factory) -> tuple:
    """Scores whose ranking is fixed; 30 of 120 labels deliberately wrong: top-1 is exactly 0.75."""
    rng = np.random.default_rng(7)
    x = rng.permuted(np.tile(np.arange(10, dtype=np.float32), (120, 1)), axis=1)
    y = x.argmax(axis=1).astype(np.int64)
    second = np.argsort(-x, axis=1)[:, 1]
    wrong = rng.choice(120, 30, replace=False)
    y[wrong[:20]] = second[wrong[:20]]  # second choice: still in the top 5
    y[wrong[20:]] = np.argsort(-x, axis=1)[wrong[20:], 9]  # last choice: outside the top 5
    path = tmp_path_factory.mktemp("known") / "known.npz"
    np.savez(path, x=x, y=y)
    return path, 0.75, 110 / 120


def check_known(report: dict, top1: float, top5: float) -> None:
    assert report["candidate"]["count"] == 120
    assert report["candidate"]["top1"] == pytest.approx(top1) and report["candidate"]["top5"] == pytest.approx(top5)
    assert report["agreement"] == 1.0 and report["accuracy_delta_points"] == 0.0
    assert sum(map(sum, report["candidate"]["confusion"])) == 120


def test_known_accuracy_on_local(probes, known_data):
    path, top1, top5 = known_data
    report = run_json("eval", probes["identity"], "--data", path, "--reference", probes["identity"])
    check_known(report, top1, top5)


@pytest.mark.ssh
def test_known_accuracy_on_the_board(board, probes, known_data):
    path, top1, top5 = known_data
    args = ("eval", probes["identity"], "--device", "board", "--inventory", board.inventory, "--data", path)
    check_known(run_json(*args, "--reference", probes["identity"]), top1, top5)
    table = run(*args)
    assert table.exit_code == 0 and "75.00%" in table.stdout and "per class" in table.stdout


def test_a_reference_of_other_accuracy_gives_the_agreement_and_the_difference(probes, known_data, tmp_path):
    """The identity classifier against its negation (which picks each sample's smallest score): 0.75 against the
    10 labels of 120 that are the last choice, no sample alike; each model's run is announced."""
    from edgedq.measure.evaluate import evaluate
    from tests.support.rewrites import scaled_weights

    path, top1, _ = known_data
    negated = scaled_weights(probes["identity"], tmp_path / "negated.tflite", -1.0)
    events: list = []
    report = evaluate(probes["identity"], path, "local", reference=negated, on_event=events.append).as_dict()
    assert (report["candidate"]["model"], report["reference"]["model"]) == (str(probes["identity"]), str(negated))
    assert (report["candidate"]["top1"], report["reference"]["top1"]) == (top1, 10 / 120)
    assert report["agreement"] == 0.0 and report["accuracy_delta_points"] == 66.6667  # (0.75 - 1/12) x 100
    started = [e.label for e in events if type(e).__name__ == "RunStarted"]
    assert started == [f"eval {probes['identity'].name}", "eval negated.tflite"]
    assert report["notes"] == [f"classes by label: {', '.join(f'{i}={i}' for i in range(10))}"]


def test_a_model_scoring_more_classes_than_the_data_names_is_noted(probes, tmp_path):
    data = tmp_path / "five.npz"
    x = np.random.default_rng(5).normal(size=(12, 10)).astype(np.float32)
    np.savez(data, x=x, y=np.arange(12) % 5)
    notes = run_json("eval", probes["identity"], "--data", data)["notes"]
    assert notes[1:] == ["the model scores 10 classes, the data names 5: a prediction of a class the data does not "
                         "name counts as wrong (give --classes to name them all)"]  # fmt: skip


def test_a_bad_candidate_is_named_not_its_reference(probes, known_data, tmp_path):
    bad = tmp_path / "candidate.tflite"
    bad.write_bytes(b"not a model at all" * 10)
    result = run("eval", bad, "--data", known_data[0], "--reference", probes["identity"])
    assert result.exit_code == ExitCode.BAD_INPUT and "candidate.tflite" in result.stderr, result.output


def test_images_are_resized_to_the_input_shape_asked_for(converted, tmp_path):
    """--input-shape 1,16,16,3 for a model whose height and width are open: the images are made 16 x 16."""
    from tests.support.rewrites import open_dims

    folder = tmp_path / "images"
    for label, value in (("cats", 40), ("dogs", 200)):
        (folder / label).mkdir(parents=True)
        Image.new("L", (64, 48), value).save(folder / label / "0.png")
    model = open_dims(converted["cnn"].variant("dynamic").path, tmp_path / "any_size.tflite", (1, 2))
    report = run_json("eval", model, "--data", folder, "--input-shape", "1,16,16,3")
    assert report["candidate"]["count"] == 2


def test_eval_table_and_bad_data(probes, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((3, 10), np.float32))
    result = run("eval", probes["identity"], "--data", bad)
    assert result.exit_code == ExitCode.BAD_INPUT and "'y'" in result.stderr
    result = run("eval", probes["identity"], "--data", tmp_path / "missing")
    assert result.exit_code == ExitCode.BAD_INPUT and "no such file" in result.stderr


def test_image_folder_is_resized_to_the_model(converted, tmp_path):
    folder = tmp_path / "images"  # not tmp_path itself: the test's edgedq home is there
    for label, value in (("cats", 40), ("dogs", 200)):
        (folder / label).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (64, 48), value + i).save(folder / label / f"{i}.png")
    dataset = load_dataset(folder, [1, 32, 32, 3])
    x = np.load(dataset.x)
    assert x.shape == (6, 32, 32, 3) and dataset.classes == ["cats", "dogs"]
    assert x[0].max() == pytest.approx(40 / 255) and list(dataset.labels) == [0, 0, 0, 1, 1, 1]
    report = run_json("eval", converted["cnn"].variant("dynamic").path, "--data", folder)
    assert report["candidate"]["count"] == 6


def write_wav(path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def test_wav_folder_gets_the_front_end_on_the_device(converted, tmp_path):
    t = np.arange(16000) / 16000
    folder = tmp_path / "clips"
    for label, hz in (("low", 300), ("high", 3000)):
        (folder / label).mkdir(parents=True)
        write_wav(folder / label / "a.wav", 0.5 * np.sin(2 * np.pi * hz * t))
    report = run_json("eval", converted["kws"].variant("dynamic").path, "--data", folder)  # input 49 x 10
    assert report["candidate"]["count"] == 2 and report["candidate"]["classes"][:2] == ["high", "low"]


@pytest.mark.parametrize("where", ["local", pytest.param("board", marks=pytest.mark.ssh)])
def test_front_end_on_the_device_equals_the_hosts(where, probes, tmp_path, request):
    rng = np.random.default_rng(1)
    audio = (0.3 * rng.standard_normal((3, 16000))).astype(np.float32)
    np.save(tmp_path / "audio.npy", audio)
    inventory = request.getfixturevalue("board").inventory if where == "board" else None
    reply = run_samples(probes["flatten"], tmp_path / "audio.npy", where, count=3, frontend={"kind": "logmel"},
                        inventory=inventory)  # fmt: skip
    on_device = np.array([s["outputs"][0] for s in reply["samples"]]).reshape(3, 49, 40)
    np.testing.assert_allclose(on_device, frontend.log_mel(audio), rtol=1e-5, atol=1e-5)
