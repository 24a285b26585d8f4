"""Every bad input gives a clear error, a documented exit code and no partial output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgedq.errors import ExitCode
from tests.support import models as model_builders
from tests.support.cli import run


def test_missing_path(tmp_path):
    result = run("convert", str(tmp_path / "nope.keras"), "-o", str(tmp_path / "x.tflite"))
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "no such file or folder" in result.output
    assert list(tmp_path.iterdir()) == []


def test_folder_that_is_no_saved_model(tmp_path):
    (tmp_path / "folder").mkdir()
    result = run("convert", str(tmp_path / "folder"), "-o", str(tmp_path / "x.tflite"))
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "not a SavedModel" in result.output


def test_truncated_keras(sources, tmp_path):
    data = sources["cnn"].read_bytes()
    broken = tmp_path / "broken.keras"
    broken.write_bytes(data[: len(data) // 2])
    result = run("convert", str(broken), "-o", str(tmp_path / "x.tflite"))
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "corrupt or truncated" in result.output
    assert not (tmp_path / "x.tflite").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_tflite(converted, tmp_path, damage):
    data = converted["cnn"].variant("dynamic").path.read_bytes()
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"\0" * 64)
    for command in (["inspect", str(bad)], ["compare", str(bad), str(bad)]):
        result = run(*command)
        assert result.exit_code == ExitCode.BAD_INPUT, result.output
        assert "error:" in result.output


def test_unconvertible_ops_are_named(tmp_path):
    source = model_builders.unconvertible_saved_model(tmp_path / "sm")
    out = tmp_path / "out"
    out.mkdir()
    result = run("convert", str(source), "-o", str(out / "x.tflite"))
    assert result.exit_code == ExitCode.CONVERSION
    assert "BesselI1e" in result.output and "MatrixInverse" in result.output
    assert list(out.iterdir()) == []


def test_int8_without_calibration(sources, tmp_path):
    result = run("convert", str(sources["dense"]), "-o", str(tmp_path / "x.tflite"), "--mode", "int8")
    assert result.exit_code == ExitCode.BAD_INPUT
    assert "--calibration" in result.output


@pytest.mark.parametrize("shape,dtype,expected", [((16, 16, 3), "float32", "shape"), ((32, 32, 3), "<U1", "expects")])
def test_calibration_that_does_not_fit(sources, converted, tmp_path, shape, dtype, expected):
    calibration = tmp_path / "calib.npz"
    if dtype == "<U1":
        np.savez(calibration, x=np.full((4, *shape), "a"))
    else:
        model_builders.calibration_npz(calibration, shape, count=4)
    out = tmp_path / "out"
    out.mkdir()
    result = run(
        "convert", str(sources["cnn"]), "-o", str(out / "x.tflite"), "--mode", "int8", "--calibration", str(calibration)
    )
    assert result.exit_code == ExitCode.BAD_INPUT, result.output
    assert "does not fit the model" in result.output and expected in result.output
    assert list(out.iterdir()) == []


def test_output_in_a_missing_folder_is_made(sources, converted, tmp_path):
    """-o out/m.tflite as the README shows it: the folder is created (the conversion comes from the cache)."""
    result = run("convert", str(sources["dense"]), "-o", str(tmp_path / "out" / "deeper" / "x.tflite"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "deeper" / "x.tflite").is_file()


@pytest.fixture
def read_only_folder(tmpfs):
    """A real read-only filesystem (root ignores permission bits, not a ro mount)."""
    return tmpfs("ro", "ro,size=1m")


def test_output_in_read_only_folder(sources, read_only_folder: Path):
    result = run("convert", str(sources["dense"]), "-o", str(read_only_folder / "x.tflite"))
    assert result.exit_code == ExitCode.OUTPUT
    assert "read-only" in result.output


@pytest.mark.parametrize("target", ["source", "calibration", "inside"])
def test_an_output_that_is_an_input_is_refused(target, sources, tmp_path):
    """-o over the source, over the calibration data, or into a SavedModel folder would destroy an input."""
    source = tmp_path / "dense.h5"
    source.write_bytes(sources["dense"].read_bytes())
    calibration = model_builders.calibration_npz(tmp_path / "calib.npz", (64,), count=4)
    args = {
        "source": (source, "-o", source),
        "calibration": (source, "-o", calibration, "--calibration", calibration, "--mode", "int8"),
        "inside": (sources["kws"], "-o", sources["kws"] / "variables" / "m.tflite"),
    }[target]
    before = {p: p.read_bytes() for p in (source, calibration)}
    inside = sorted(p.name for p in (sources["kws"] / "variables").iterdir())
    result = run("convert", *args)
    assert result.exit_code == ExitCode.OUTPUT, result.output
    assert "would overwrite the input" in result.stderr
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(p.name for p in (sources["kws"] / "variables").iterdir()) == inside


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("threads", [True], "'threads' must list positive integers"),
        ("threads", [0], "'threads' must list positive integers"),
        ("port", -1, "'port' must be from 1 to 65535"),
        ("connect_timeout", 0, "'connect_timeout' must be more than 0"),
        ("workdir", "~root/x", "'workdir' must be absolute or start with ~/"),
        ("workdir", "relative/dir", "'workdir' must be absolute"),
    ],
)
def test_inventory_values_that_cannot_be_meant_are_named(field, value, expected, tmp_path):
    inventory = tmp_path / "devices.yaml"
    inventory.write_text(json.dumps({"devices": {"pi": {"host": "192.0.2.1", field: value}}}))
    result = run("devices", "list", "--inventory", inventory)
    assert result.exit_code == ExitCode.DEVICE and expected in result.stderr, result.output


@pytest.mark.parametrize(
    "args",
    [("--timeout", "-1"), ("--timeout", "0"), ("--runs", "-5"), ("--runs", "0"), ("--warmup", "-1"),
     ("--min-secs", "-1"), ("--max-secs", "0"), ("--lock-wait", "-1"), ("--threads", "0")],
)  # fmt: skip
def test_options_out_of_range_are_usage_errors(args, converted):
    result = run("bench", converted["dense"].variant("dynamic").path, *args)
    assert result.exit_code == ExitCode.USAGE and "Invalid value" in result.stderr, result.output
