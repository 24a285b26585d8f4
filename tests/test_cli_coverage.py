"""Every option, inventory field and exit code the README documents, exercised through the CLI for what it does.

The first test keeps it so: an option or exit code that no test names fails the suite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest

import edgedq
from edgedq.device import connect
from edgedq.errors import ExitCode
from tests.support import DEVICE_PYTHON
from tests.support.cli import run, run_json
from tests.support.faults import lying_agent, wrapper_python

TESTS = Path(__file__).parent


def _commands(command: click.Command, path: tuple[str, ...] = ()):
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def test_every_option_and_exit_code_is_exercised_by_some_test():
    from edgedq.cli import cli

    said = "\n".join(path.read_text() for path in TESTS.glob("test_*.py"))
    quoted = set(re.findall(r"""["'](--?[\w-]+)["']""", said))
    unused = [
        f"edgedq {' '.join(path)} {option.opts[0]}"
        for path, command in _commands(cli)
        for option in command.params
        if isinstance(option, click.Option) and option.opts[0] != "--help" and not set(option.opts) & quoted
    ]
    assert unused == [], "options no test uses"
    untested = [code.name for code in ExitCode if code and f"ExitCode.{code.name}" not in said]
    assert untested == [], "exit codes no test expects"


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and edgedq.__version__ in result.stdout


# -- bench ----------------------------------------------------------------------------------------------------------
def test_bench_both_measures_with_and_without_xnnpack(converted):
    model = converted["cnn"].variant("float32").path
    results = run_json("bench", model, "--both", "--threads", 1, "--runs", 2)["results"]
    assert [r["xnnpack"] for r in results] == [True, False]
    assert results[0]["delegation"]["partitions"] == 1 and results[1]["delegation"]["partitions"] == 0
    (alone,) = run_json("bench", model, "--no-xnnpack", "--threads", 1, "--runs", 2)["results"]
    assert alone["xnnpack"] is False and alone["delegation"]["delegated_nodes"] == 0


def test_bench_warmup_and_min_secs(converted):
    model = converted["kws"].variant("dynamic").path
    (result,) = run_json("bench", model, "--warmup", 3, "--runs", 1, "--min-secs", 0.3, "--threads", 1)["results"]
    assert len(result["warmup_ms"]) == 3
    assert len(result["samples_ms"]) > 1 and sum(result["samples_ms"]) >= 300 * 0.95  # ran on until 0.3 s passed


def test_bench_timeout_kills_a_silent_agent_alone_exit_12(board, converted, tmp_path):
    board.write(python=str(wrapper_python(tmp_path, "os.kill(os.getpid(), signal.SIGSTOP)")))
    model = converted["kws"].variant("dynamic").path
    result = run("bench", model, "--device", "board", "--inventory", board.inventory, "--runs", 10**6, "--timeout", 2)
    assert result.exit_code == ExitCode.AGENT and "sent nothing for 2 s" in result.output, result.output


def test_bench_lock_wait_gives_up_naming_the_holder_exit_7(board, converted):
    model = converted["kws"].variant("dynamic").path
    with connect(board.device()) as holder, holder.hold(5):
        started = time.monotonic()
        result = run("bench", model, "--device", "board", "--inventory", board.inventory, "--lock-wait", 1)
        waited = time.monotonic() - started
    assert result.exit_code == ExitCode.DEVICE and "held" in result.stderr, result.output
    assert waited < 30  # gave up, did not wait for the holder


# -- deploy and eval --------------------------------------------------------------------------------------------------
def test_deploy_mode_compare_calibration_threads_on_two_devices(board, sources):
    result = run_json("deploy", sources["cnn"], "--device", "local,board", "--inventory", board.inventory,
                      "--mode", "float16", "--compare", "float32,int8", "--calibration", sources["cnn_calibration"],
                      "--threads", "1,2", "--runs", 2)  # fmt: skip
    assert [d["device"] for d in result["devices"]] == ["local", "board"]
    for device in result["devices"]:
        assert device["error"] is None
        measured = {(Path(r["model"]).name, r["threads"]) for r in device["results"]}
        modes = ("float16", "float32", "int8")
        assert measured == {(f"cnn.{mode}.tflite", threads) for mode in modes for threads in (1, 2)}


def test_eval_threads(probes, tmp_path):
    import numpy as np

    x = np.eye(10, dtype=np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=np.arange(10))
    report = run_json("eval", probes["identity"], "--data", tmp_path / "data.npz", "--threads", 2)
    assert report["threads"] == 2 and report["candidate"]["top1"] == 1.0


# -- the inventory ----------------------------------------------------------------------------------------------------
def test_devices_add_every_field_then_list_and_remove(tmp_path):
    inventory = tmp_path / "devices.yaml"
    added = run_json("devices", "add", "pi5", "--host", "pi5.lab", "--port", 2222, "--user", "pi",
                     "--identity-file", "~/.ssh/pi_ed25519", "--python", "~/.edgedq/venv/bin/python",
                     "--workdir", "~/edge dq", "--threads", "1,4", "--tag", "lab",
                     "--inventory", inventory)  # fmt: skip
    expected = {"host": "pi5.lab", "port": 2222, "user": "pi", "identity_file": "~/.ssh/pi_ed25519",
                "python": "~/.edgedq/venv/bin/python", "workdir": "~/edge dq", "threads": [1, 4],
                "tags": ["lab"]}  # fmt: skip
    assert added["inventory"] == str(inventory) and added["device"].items() >= expected.items()
    (listed,) = [d for d in run_json("devices", "list", "--inventory", inventory)["devices"] if d["name"] == "pi5"]
    assert listed.items() >= expected.items()
    removed = run_json("devices", "remove", "pi5", "--inventory", inventory)
    assert removed["removed"] == "pi5"
    assert "pi5" not in [d["name"] for d in run_json("devices", "list", "--inventory", inventory)["devices"]]


def test_the_default_inventory_and_edgedq_inventory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EDGEDQ_INVENTORY")
    run_json("devices", "add", "pi4", "--host", "pi4.lab")
    default = tmp_path / "home" / ".config" / "edgedq" / "devices.yaml"
    assert "pi4.lab" in default.read_text()
    assert "pi4" in [d["name"] for d in run_json("devices", "list")["devices"]]
    monkeypatch.setenv("EDGEDQ_INVENTORY", str(tmp_path / "other.yaml"))
    run_json("devices", "add", "pi5", "--host", "pi5.lab")
    names = [d["name"] for d in run_json("devices", "list")["devices"]]
    assert "pi5" in names and "pi4" not in names and "pi5" not in default.read_text()


def test_the_inventory_runtime_field_picks_the_runtime(board):
    board.write(runtime="ai_edge_litert")
    facts = run_json("devices", "check", "board", "--inventory", board.inventory)
    assert facts["ready"] and facts["facts"]["runtime"]["name"] == "ai_edge_litert"
    board.write(runtime="tflite_runtime")  # not installed in the board's venv: said, not swapped for another
    result = run("devices", "check", "board", "--inventory", board.inventory)
    assert result.exit_code == ExitCode.RUNTIME and "tflite_runtime" in result.stderr, result.output


# -- exit codes through the CLI ------------------------------------------------------------------------------------
def test_an_internal_error_is_one_line_and_exit_1(monkeypatch):
    """A bug cannot be made for real: the inventory reader is replaced by one that raises (a stand-in for a bug)."""
    from edgedq.cli import devices

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(devices, "load_inventory", broken)
    result = run("devices", "list")
    assert result.exit_code == ExitCode.INTERNAL
    assert result.stderr.splitlines()[0] == "error: internal error: RuntimeError: a bug"
    assert "EDGEDQ_DEBUG=1" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_2(converted):
    assert run("bench").exit_code == ExitCode.USAGE  # no model
    result = run("bench", converted["kws"].variant("dynamic").path, "--no-such-option")
    assert result.exit_code == ExitCode.USAGE and "--no-such-option" in result.output


def test_an_unknown_device_exits_7_and_an_unreachable_one_8(board, converted):
    model = converted["kws"].variant("dynamic").path
    unknown = run("bench", model, "--device", "nosuch", "--inventory", board.inventory)
    assert unknown.exit_code == ExitCode.DEVICE and "nosuch" in unknown.stderr
    from edgedq.testing.sshd import free_port

    board.write(port=free_port())  # nothing listens there
    refused = run("bench", model, "--device", "board", "--inventory", board.inventory)
    assert refused.exit_code == ExitCode.CONNECTION and "refused" in refused.stderr, refused.output


def test_one_board_of_two_failing_exits_6_and_the_other_is_reported(board, converted, tmp_path):
    entries = {"good": board.entry(), "broken": board.entry(python=str(tmp_path / "no-python"))}
    board.inventory.write_text(json.dumps({"devices": entries}))
    model = converted["kws"].variant("dynamic").path
    result = run("deploy", model, "--device", "good,broken", "--inventory", board.inventory, "--runs", 2, "--json")
    assert result.exit_code == ExitCode.RUNS_FAILED, result.output
    devices = {d["device"]: d for d in json.loads(result.stdout)["devices"]}
    assert devices["good"]["error"] is None and devices["good"]["results"][0]["latency_ms"]["p50"] > 0
    (failed,) = devices["broken"]["results"]
    assert failed["error"]["exit_code"] == ExitCode.RUNTIME and "Python was not found" in failed["error"]["message"]


def test_a_full_host_disk_exits_5_and_leaves_nothing(sources, tmpfs):
    full = tmpfs("full", "size=64k")
    result = run("convert", sources["cnn"], "-o", full / "cnn.tflite", "--mode", "float32")
    assert result.exit_code == ExitCode.OUTPUT and "cnn" in result.stderr, result.output
    assert list(full.iterdir()) == []  # nothing half-written


# -- bench's warnings ---------------------------------------------------------------------------------------------
def hot_throttled_python(tmp_path: Path) -> Path:
    """A board whose SoC reads 85 C and whose firmware reports throttling: the real agent, reading a real (private,
    bind-mounted) /sys/class/thermal and a ``vcgencmd`` as a Raspberry Pi's prints it."""
    zone = tmp_path / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("85000\n")
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "vcgencmd").write_text("#!/bin/sh\necho throttled=0x50005\n")
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\n"
                      f"exec unshare -m sh -c 'mount --bind {tmp_path / 'thermal'} /sys/class/thermal && "
                      f"PATH={tools}:$PATH exec {DEVICE_PYTHON} \"$@\"' sh \"$@\"\n")  # fmt: skip
    for path in (script, tools / "vcgencmd"):
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return script


def test_bench_warns_of_heat_and_throttling(board, converted, tmp_path):
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to give the agent a hot SoC")
    board.write(python=str(hot_throttled_python(tmp_path)))
    model = converted["kws"].variant("dynamic").path
    (result,) = run_json("bench", model, "--device", "board", "--inventory", board.inventory, "--runs", 2)["results"]
    assert result["thermal"]["after"]["temperature_c"] == 85.0
    assert "the SoC reached 85 C: expect throttling" in result["warnings"]
    assert any(w.startswith("the device was throttled during the run: ") for w in result["warnings"]), result


def test_bench_warns_of_a_wide_spread(board, converted, tmp_path):
    """A board whose latencies scatter cannot be made on demand: a lying agent doubles half the samples."""
    victim = tmp_path / "victim.tflite"
    shutil.copy(converted["kws"].variant("dynamic").path, victim)
    board.write(python=str(lying_agent(tmp_path, "s = result['samples_ms']\nresult['samples_ms'] = "
                                                 "[v * (3 if i % 2 else 1) for i, v in enumerate(s)]")))  # fmt: skip
    (result,) = run_json("bench", victim, "--device", "board", "--inventory", board.inventory, "--runs", 10)["results"]
    assert any(w.startswith("wide spread: p90 is ") for w in result["warnings"]), result["warnings"]


def test_bench_warns_of_nodes_xnnpack_left(sources, tmp_path):
    from edgedq.conversion.sources import make_converter, open_source
    from edgedq.conversion.tf_driver import run_converter

    split = tmp_path / "tf_default.tflite"
    split.write_bytes(run_converter(make_converter(open_source(sources["cnn"])), "tf-default"))
    (result,) = run_json("bench", split, "--runs", 2, "--threads", 1)["results"]
    assert "XNNPACK left nodes to builtin kernels: DEPTHWISE_CONV_2D x1" in result["warnings"]
    table = run("bench", split, "--runs", 2)
    assert "DEPTHWISE_CONV_2D x1" in table.output


# -- quoting, stale files, the speech demo on a board -----------------------------------------------------------------
def test_a_workdir_with_spaces_and_shell_syntax_is_used_as_it_is(board, converted, tmp_path):
    odd = tmp_path / "work dir $(touch pwned) `touch pwned2`; x"
    board.write(workdir=str(odd))
    model = converted["kws"].variant("dynamic").path
    (result,) = run_json("bench", model, "--device", "board", "--inventory", board.inventory, "--runs", 2)["results"]
    assert result["error"] is None
    assert (odd / "store" / result["model_sha256"] / model.name).read_bytes() == model.read_bytes()
    assert not list(tmp_path.rglob("pwned*")) and not list(board.home.rglob("pwned*"))


def test_stale_uploads_in_tmp_are_removed_fresh_ones_kept(board, converted):
    model = converted["kws"].variant("dynamic").path
    run_json("bench", model, "--device", "board", "--inventory", board.inventory, "--runs", 1)
    stale, fresh = board.workdir / "tmp" / "0123456789abcdef.old.1.part", board.workdir / "tmp" / "fedcba.new.2.part"
    for path in (stale, fresh):
        path.write_bytes(b"half an upload")
    old = time.time() - 11 * 60  # the lock removes temp files older than 10 minutes
    os.utime(stale, (old, old))
    run_json("bench", model, "--device", "board", "--inventory", board.inventory, "--runs", 1)
    assert not stale.exists() and fresh.exists()


def test_setup_base_python_makes_the_venv_with_that_python(board, tmp_path):
    """--base-python through a path with a space: the venv is made by that Python (its pyvenv.cfg says so)."""
    base = tmp_path / "my python"
    base.mkdir()
    real = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    (base / "python3").symlink_to(real)
    board.write(python=None)
    result = run_json("devices", "setup", "board", "--offline", "--base-python", base / "python3",
                      "--inventory", board.inventory)  # fmt: skip
    assert result["ready"], result
    config = (board.workdir / "venv" / "pyvenv.cfg").read_text()
    assert f"version = {sys.version_info.major}.{sys.version_info.minor}" in config.replace("version_info", "version")
    assert str(base) in config or str(real.parent) in config
    subprocess.run([board.workdir / "venv" / "bin" / "python", "-c", "import numpy"], check=True)


def test_profile_top_limits_the_operator_table(converted):
    model = converted["cnn"].variant("float32").path
    table = run("profile", model, "--runs", 3, "--threads", 1, "--top", 2)
    assert table.exit_code == 0 and "top 2 of 6 operators by time" in table.stdout, table.output
    top = table.stdout.split("by time")[1].split("tied to TFLite nodes")[0]
    assert len(re.findall(r"^\S.*  XNNPACK  +\d+ ", top, flags=re.M)) == 2  # operator rows: on XNNPACK, a node


def test_convert_verbose_shows_tensorflows_log(sources, tmp_path):
    quiet = run("convert", sources["dense"], "-o", tmp_path / "q.tflite", "--mode", "float32", "--batch", 2)
    loud = run("convert", sources["dense"], "-o", tmp_path / "v.tflite", "--mode", "float32", "--batch", 3, "--verbose")
    assert quiet.exit_code == loud.exit_code == 0, loud.output
    assert "TensorSpec" not in quiet.stderr and "TensorSpec" in loud.stderr  # what TensorFlow prints as it saves


def test_report_format_overrides_the_suffix(converted, tmp_path):
    model = converted["kws"].variant("dynamic").path
    run_json("bench", model, "--runs", 2, "--threads", 1)
    result = run("report", "--output", tmp_path / "report.txt", "--format", "md")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.txt").read_text()
    assert text.startswith("# edgedq report") and "<html" not in text.lower() and model.stem in text
    assert list((tmp_path / "report_files").glob("figure-*.png"))  # Markdown's figures beside it
