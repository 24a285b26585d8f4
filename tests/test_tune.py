"""edgedq tune: the demos tuned on local and on the sshd board (the choice re-measured with eval), a fragile layer
found by the sensitivity ranking and kept in float, the time budget, the budget rule itself, and bad input."""

from __future__ import annotations

import json
import os
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import run, run_json
from tests.test_arm_board import arm  # noqa: F401  (the emulated boards, make arm-board, as a fixture)

ISSUE_KEYS = {"source", "data", "max_drop_points", "sensitivity", "devices"}
DEVICE_KEYS = {"device", "float32_accuracy", "candidates", "chosen", "saved"}
CANDIDATE_KEYS = {"name", "mode", "keep_float", "path", "size_bytes", "accuracy", "latency_ms", "within_budget"}


def _in_home(home: Path, train):  # type: ignore[no-untyped-def]
    """Train a demo once for the whole run in ``home`` (each test has its own EDGEDQ_HOME, the demos cache there)."""
    before = os.environ.get("EDGEDQ_HOME")
    os.environ["EDGEDQ_HOME"] = str(home)
    try:
        return train()
    finally:
        if before is None:
            os.environ.pop("EDGEDQ_HOME", None)
        else:
            os.environ["EDGEDQ_HOME"] = before


@pytest.fixture(scope="session")
def vision(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The vision demo's model (trained here, quick setting), its held-out digits as an .npz, its calibration."""
    from edgedq.demos import vision as demo

    folder = tmp_path_factory.mktemp("tune-vision")
    trained = _in_home(folder / "home", lambda: demo.train(quick=True))
    data = folder / "digits.npz"
    np.savez(data, x=np.load(trained.test.x), y=np.load(trained.test.y))
    return {"source": trained.source, "data": data, "calibration": trained.calibration}


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The speech demo's keyword spotter, and its held-out clips as a folder of .wav per class (label order kept by
    the folders' names), so the front end runs on the host (sensitivity) and on the device (eval)."""
    from edgedq.demos import speech as demo

    folder = tmp_path_factory.mktemp("tune-speech")
    trained = _in_home(folder / "home", lambda: demo.train(quick=True))
    clips, labels = np.load(trained.test.x), np.load(trained.test.y)
    data = folder / "clips"
    for index, (clip, label) in enumerate(zip(clips, labels, strict=True)):
        target = data / f"{label}_{demo.CLASSES[label]}" / f"clip{index:03d}.wav"
        target.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(target), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(16000)
            handle.writeframes((np.clip(clip, -1, 1) * 32767).astype("<i2").tobytes())
    return {"source": trained.source, "data": data}


@pytest.fixture(scope="session")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A classifier whose first layer has one huge weight per output channel, on an input that is always 0.

    The float model does not notice (the weight multiplies zero), but per-channel int8 gives every channel of that
    layer a scale of 1000/127, and its real weights (about 0.08) round to 0: the dynamic model loses that layer
    whole.  The wide layer after it (256x2048) is where int8 weights pay off, so keeping the fragile layer in
    float and quantizing the rest is both accurate and fast.
    """
    import keras

    folder = tmp_path_factory.mktemp("tune-fragile")
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 64)).astype("float32")

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, 10, count)
        x = centres[labels] + 0.6 * rng.normal(size=(count, 64)).astype("float32")
        x[:, 63] = 0.0
        return x.astype("float32"), labels

    (x_train, y_train), (x_test, y_test) = draw(3000), draw(300)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu", name="fragile"),
                              keras.layers.Dense(2048, activation="relu", name="wide"),
                              keras.layers.Dense(10, name="classifier")])  # fmt: skip
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)
    kernel, bias = model.get_layer("fragile").get_weights()
    kernel[63, :] = 1000.0  # (inputs, outputs): one outlier in every output channel, on the dead input
    model.get_layer("fragile").set_weights([kernel, bias])
    model.save(folder / "fragile.keras")
    np.savez(folder / "fragile.npz", x=x_test, y=y_test)
    return {"source": folder / "fragile.keras", "data": folder / "fragile.npz"}


def check_choice(report: dict, max_drop: float = 0.5) -> dict:
    """The issue's JSON, and the rule: the chosen candidate is within budget and the fastest such in the table."""
    assert set(report) >= ISSUE_KEYS and report["max_drop_points"] == max_drop
    ranking = report["sensitivity"]
    assert ranking and all(set(layer) == {"layer", "op", "metric", "value"} for layer in ranking)
    assert [layer["value"] for layer in ranking] == sorted(layer["value"] for layer in ranking)  # worst first
    (device,) = report["devices"]
    assert set(device) >= DEVICE_KEYS and device["error"] is None
    assert all(set(c) == CANDIDATE_KEYS for c in device["candidates"])
    names = [c["name"] for c in device["candidates"]]
    assert names[0] == "float32" and {"dynamic", "float16", "dynamic-keep1"} <= set(names)
    reference = device["float32_accuracy"]
    assert 0 < reference <= 1 and reference == device["candidates"][0]["accuracy"]
    for c in device["candidates"]:
        assert 0 <= c["accuracy"] <= 1 and c["latency_ms"]["p50"] > 0
        assert c["size_bytes"] == Path(c["path"]).stat().st_size
        assert c["within_budget"] == ((reference - c["accuracy"]) * 100 <= max_drop + 1e-9)
    chosen = device["chosen"]
    assert chosen["within_budget"]
    fits = [c for c in device["candidates"] if c["within_budget"]]
    assert chosen["latency_ms"]["p50"] == min(c["latency_ms"]["p50"] for c in fits)
    assert chosen["name"] in device["pareto_front"]
    return device


def reevaluate(path: str, data: Path, *device: str) -> float:
    return run_json("eval", path, "--data", data, *device)["candidate"]["top1"]


def test_vision_demo_on_local(vision, tmp_path):
    """With calibration (int8 candidates too), -o writes the chosen model and its manifest; eval agrees."""
    out = tmp_path / "out" / "digits.tflite"
    report = run_json("tune", vision["source"], "--data", vision["data"], "--calibration", vision["calibration"],
                      "--runs", 20, "-o", out)  # fmt: skip
    device = check_choice(report)
    names = [c["name"] for c in device["candidates"]]
    assert {"int8", "int8-keep1"} <= set(names)
    keep = next(c for c in device["candidates"] if c["name"] == "dynamic-keep1")
    assert keep["keep_float"] == [report["sensitivity"][0]["layer"]] and keep["mode"] == "dynamic"
    assert device["saved"] == str(out) and out.read_bytes() == Path(device["chosen"]["path"]).read_bytes()
    manifest = json.loads(out.with_name(out.name + ".json").read_text())
    (why,) = manifest["tune"]
    assert why["chosen"] == device["chosen"]["name"] and why["reason"].startswith(device["chosen"]["name"])
    assert [c["name"] for c in why["candidates"]] == names and manifest["model"]["path"] == str(out)
    assert reevaluate(str(out), vision["data"]) == device["chosen"]["accuracy"]
    history = run_json("history")["configurations"]
    tuned = next(r for r in history if r["kind"] == "tune")
    assert tuned["run_id"] == report["run"] and tuned["accuracy"] == device["chosen"]["accuracy"]
    assert sum(r["kind"] == "bench" for r in history if r["run_id"] == report["run"]) == len(names)


@pytest.mark.ssh
def test_speech_demo_on_the_board(speech, board):
    """A folder of .wav: log-mel on the host for the ranking, on the board for eval; the choice re-measured there."""
    on_board = ("--device", "board", "--inventory", board.inventory)
    report = run_json("tune", speech["source"], "--data", speech["data"], "--runs", 10, "--max-drop", 1, *on_board)
    device = check_choice(report, max_drop=1)
    assert device["device"] == "board" and device["float32_accuracy"] >= 0.85
    assert reevaluate(device["chosen"]["path"], speech["data"], *on_board) == device["chosen"]["accuracy"]


@pytest.mark.parametrize(
    ("demo", "where"), [("vision", pytest.param("board", marks=pytest.mark.ssh)), ("speech", "local")]
)
def test_the_other_demo_on_each_device(demo, where, request):
    """Vision on the board, speech on local (the two tests above do the other pairs): the rule, and eval agrees."""
    model = request.getfixturevalue(demo)
    device: tuple = ()
    if where == "board":
        device = ("--device", "board", "--inventory", request.getfixturevalue("board").inventory)
    report = run_json("tune", model["source"], "--data", model["data"], "--runs", 10, "--max-drop", 1, *device)
    chosen = check_choice(report, max_drop=1)["chosen"]
    assert reevaluate(chosen["path"], model["data"], *device) == chosen["accuracy"]


def test_fragile_layer_tops_the_ranking_and_is_kept_in_float(fragile, tmp_path):
    report = run_json("tune", fragile["source"], "--data", fragile["data"], "--runs", 30)
    device = check_choice(report)
    first = report["sensitivity"][0]
    assert "fragile" in first["layer"] and first["value"] < 3.0  # dB: the layer's output is mostly error
    assert all(layer["value"] > 30.0 for layer in report["sensitivity"][1:])
    by_name = {c["name"]: c for c in device["candidates"]}
    assert by_name["float32"]["accuracy"] >= 0.99
    assert not by_name["dynamic"]["within_budget"] and by_name["dynamic"]["accuracy"] < 0.5
    chosen = device["chosen"]
    assert chosen["mode"] == "dynamic" and first["layer"] in chosen["keep_float"], device
    assert chosen["latency_ms"]["p50"] < by_name["float32"]["latency_ms"]["p50"]
    report_file = tmp_path / "report.html"
    assert run("report", "latest", "-o", report_file).exit_code == 0
    assert f"tune: {chosen['name']} chosen" in report_file.read_text() and "Pareto front" in report_file.read_text()


@pytest.mark.arm
def test_tune_runs_end_to_end_on_the_emulated_board(arm, fragile):  # noqa: F811
    """The board's own ARM kernels decide the accuracy (the fragile layer breaks there too); latency is marked."""
    on_board = ("--device", "armpi", "--inventory", arm["inventory"])
    report = run_json("tune", fragile["source"], "--data", fragile["data"], "--runs", 3, *on_board)
    device = check_choice(report)
    assert any("emulated" in note and "latency is meaningless" in note for note in device["notes"])
    by_name = {c["name"]: c for c in device["candidates"]}
    assert by_name["float32"]["accuracy"] >= 0.99 and not by_name["dynamic"]["within_budget"]
    assert by_name["dynamic-keep1"]["within_budget"]


def test_time_budget_keeps_the_best_so_far(fragile):
    """A budget spent at once: float32 (the reference) is measured, the rest is not, and the run says so."""
    result = run("tune", fragile["source"], "--data", fragile["data"], "--runs", 5, "--budget-min", 1e-6)
    assert result.exit_code == 0, result.output
    assert "stopped early: the time budget" in result.stderr and "not converted" in result.stderr
    assert "local: chose float32" in result.stdout
    report = run_json("tune", fragile["source"], "--data", fragile["data"], "--runs", 5, "--budget-min", 1e-6)
    (device,) = report["devices"]
    assert device["chosen"]["name"] == "float32" and "ran out" in device["stopped_early"]
    assert [c["accuracy"] is not None for c in device["candidates"]] == [True] + [False] * (
        len(device["candidates"]) - 1
    )


def test_the_budget_rule_and_the_front():
    from edgedq.tune.choose import Point, choose, pareto_front, reason

    points = [
        Point("float32", 0.95, 10.0, 400),
        Point("dynamic", 0.90, 4.0, 100),
        Point("keep1", 0.948, 5.0, 150),
        Point("float16", 0.95, 10.0, 200),
        Point("slow", 0.80, 12.0, 90),
        Point("gone", None, None, 9),
    ]
    assert choose(points, 0.95, 0.5).name == "keep1"  # dynamic is faster, but 5 points down
    assert choose(points, 0.95, 10.0).name == "dynamic"
    assert choose(points, 0.95, 0.0).name == "float16"  # a tie with float32 goes to the smaller file
    assert pareto_front(points) == ["dynamic", "keep1", "float32", "float16"]
    assert "faster but over the budget: dynamic (-5.00 points)" in reason(points, points[2], 0.95, 0.5, "p50")


def test_boards_that_choose_differently_get_a_file_each(tmp_path):
    from edgedq.tune.output import targets
    from edgedq.tune.result import CandidateResult, DeviceTune

    def board(name: str, chosen: str | None) -> DeviceTune:
        return DeviceTune(name, chosen=CandidateResult(chosen, "dynamic", [], "m", 1) if chosen else None)

    out = tmp_path / "m.tflite"
    same = targets(out, [board("pi4", "dynamic"), board("pi5", "dynamic"), board("down", None)])
    assert same == {"pi4": out, "pi5": out}
    differ = targets(out, [board("pi 4", "float32"), board("pi5", "int8")])
    assert differ == {"pi 4": tmp_path / "m.pi_4.tflite", "pi5": tmp_path / "m.pi5.tflite"}


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--data", "{missing}"), 3, "no such file or folder"),
        (("--data", "{wrong}"), 3, "a sample of the data has shape [5] but the model's input"),
        (("--data", "{data}", "--device", "nowhere"), 7, "unknown device 'nowhere'"),
        (("--data", "{data}", "-o", "{source}"), 5, "it would overwrite the input"),
        (("--data", "{data}", "--metric", "p99"), 2, "p99"),
    ],
    ids=["missing-data", "data-of-another-shape", "unknown-device", "output-onto-source", "bad-metric"],
)
def test_bad_input_is_one_line(fragile, tmp_path, args, code, message):
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros((4, 5), "float32"), y=np.zeros(4, "int64"))
    names = {"missing": tmp_path / "none.npz", "wrong": wrong, "data": fragile["data"], "source": fragile["source"]}
    result = run("tune", fragile["source"], *(a.format(**names) for a in args))
    assert result.exit_code == code, result.output
    assert message in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert code == 2 or (len(errors) == 1 and message in errors[0])


def test_a_tflite_source_is_refused(fragile, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\0\0\0\0TFL3")
    result = run("tune", model, "--data", fragile["data"])
    assert result.exit_code == 3 and "tune needs the TensorFlow model" in result.stderr
