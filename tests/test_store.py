"""The results store on both engines (SQLite in the home, a real PostgreSQL cluster), history, diff as a CI gate,
and the report in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from edgedq.errors import ExitCode
from edgedq.store.engine import open_store
from edgedq.store.records import Run, history, record
from edgedq.store.schema import SCHEMA_VERSION, imported_files, runs
from tests.support import models as builders
from tests.support.cli import run, run_json
from tests.support.postgres import binaries, throwaway_cluster


@pytest.fixture(scope="module")
def postgres_url():
    if binaries() is None:
        pytest.fail("PostgreSQL is not installed: make setup installs Debian's postgresql")
    with throwaway_cluster() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> str:
    """A store URL: a fresh SQLite file, or a fresh schema in the throwaway PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.db'}"
    url = request.getfixturevalue("postgres_url")
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:  # every test starts from an empty database
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    from edgedq.store import engine as store_engine

    store_engine._ENGINES.pop(url, None)
    return url


@pytest.fixture(scope="module")
def speeds(tmp_path_factory, converted) -> dict[str, Path]:
    """Two models saved under one name (model.tflite), the second about 4x the work: a real regression."""
    import edgedq

    folder = tmp_path_factory.mktemp("speeds")
    made = {}
    for name, width in (("fast", 16), ("slow", 64)):
        source = builders.sized_cnn(folder / f"{name}.keras", width)
        (folder / name).mkdir()
        made[name] = edgedq.convert(source, folder / name / "model.tflite", "float32").variant("float32").path
    return made


def bench_into(store: str, model: Path, *extra: object) -> dict:
    return run_json("bench", model, "--threads", 1, "--runs", 60, "--warmup", 5, "--store", store, *extra)


def test_bench_and_eval_runs_are_recorded_whole(store, converted, probes, tmp_path):
    cnn = converted["cnn"]
    first = bench_into(store, cnn.variant("float32").path, "--run-tag", "baseline")
    engine = open_store(store)
    rows = history(engine)
    assert len(rows) == 1 and rows[0]["run_id"] == first["run"] and rows[0]["tag"] == "baseline"
    row = rows[0]
    assert row["samples_ms"] == first["results"][0]["samples_ms"]  # the raw samples, not just statistics
    assert row["model_sha256"] == first["results"][0]["model_sha256"] and row["mode"] == "float32"
    assert row["device_facts"]["cpu_model"] and row["delegation"]["partitions"] == 1
    assert row["input_shapes"] and row["runtime"] == "ai_edge_litert"
    x = np.random.default_rng(0).uniform(0, 1, (10, 10)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=x.argmax(1))
    evaluated = run_json("eval", probes["identity"], "--data", tmp_path / "data.npz", "--store", store)
    (accuracy,) = [r for r in history(engine) if r["run_id"] == evaluated["run"]]
    assert accuracy["accuracy"] == 1.0 and accuracy["kind"] == "eval"


def test_a_failed_run_is_recorded_failed_and_an_interrupted_one_not_at_all(store, converted, tmp_path):
    unreachable = tmp_path / "inventory.yaml"
    unreachable.write_text(json.dumps({"devices": {"gone": {"host": "192.0.2.1", "connect_timeout": 1}}}))
    failed = run("bench", converted["dense"].variant("dynamic").path, "--device", "gone", "--inventory", unreachable,
                 "--store", store)  # fmt: skip
    assert failed.exit_code == ExitCode.CONNECTION, failed.output
    (row,) = history(open_store(store))
    assert row["status"] == "failed" and "192.0.2.1" in row["error"]["message"]


def test_a_run_that_cannot_be_written_leaves_nothing(store):
    engine = open_store(store)
    broken = Run("bench", rows=[{"kind": "bench", "device": "local", "model_name": "m"},
                                {"kind": "bench", "device": "local", "details": {"not json": object()}}])  # fmt: skip
    with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises, the run must not be half there
        record(engine, broken)
    assert history(engine) == []


def test_an_older_store_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    open_store(f"sqlite:///{path}")  # today's schema, then made into what version 1 looked like
    with sqlite3.connect(path) as old:
        old.execute("ALTER TABLE configurations DROP COLUMN input_shapes")
        old.execute("UPDATE edgedq_schema SET version = 1")
    from edgedq.store import engine as store_engine

    store_engine._ENGINES.clear()
    engine = open_store(f"sqlite:///{path}")
    with sqlite3.connect(path) as migrated:
        assert migrated.execute("SELECT version FROM edgedq_schema").fetchone()[0] == SCHEMA_VERSION
        columns = {row[1] for row in migrated.execute("PRAGMA table_info(configurations)")}
    assert "input_shapes" in columns
    record(engine, Run("bench", rows=[{"kind": "bench", "input_shapes": {"x": [1, 4]}}]))


def test_json_results_of_old_are_taken_in_once(tmp_path, edgedq_home):
    results = edgedq_home / "results"
    results.mkdir(parents=True)
    (results / "20261130-044047-pi4-kws.json").write_text(json.dumps({
        "source": "kws.keras", "device": "pi4", "error": None, "results": [
            {"model": "/m/kws.dynamic.tflite", "model_sha256": "ab" * 32, "device": "pi4", "threads": 1,
             "xnnpack": True, "latency_ms": {"p50": 31.1, "p90": 39.7, "mean": 31.5, "std": 6.6},
             "samples_ms": [31.0, 31.2], "memory_mb": {"peak_rss": 104.3}, "error": None}]}))  # fmt: skip
    first = run_json("history")["configurations"]
    assert len(first) == 1 and first[0]["device"] == "pi4" and first[0]["p50_ms"] == 31.1
    assert len(run_json("history")["configurations"]) == 1  # not twice


def test_first_runs_at_the_same_moment_create_the_store_once(store, tmp_path):
    """Eight terminals, a store that is not there yet and an old JSON file: one schema, eight runs, one import."""
    results = tmp_path / "home" / "results"
    results.mkdir(parents=True)
    (results / "old.json").write_text(json.dumps({"source": "a.keras", "results": [{"model": "/m/a.tflite"}]}))
    go = tmp_path / "go"
    script = f"""
import pathlib, time
from edgedq.store.engine import open_store
from edgedq.store.records import Run, record
pathlib.Path({str(tmp_path)!r}, f"ready-{{time.monotonic_ns()}}").touch()
deadline = time.monotonic() + 120
while not pathlib.Path({str(go)!r}).exists() and time.monotonic() < deadline:  # all eight start at one moment
    time.sleep(0.001)
record(open_store(), Run('bench'))
"""
    env = {**os.environ, "EDGEDQ_HOME": str(tmp_path / "home"), "EDGEDQ_STORE": store}
    starts = [subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE, text=True)
              for _ in range(8)]  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()
    failures = [error for process in starts if (error := process.communicate(timeout=120)[1]) and process.returncode]
    assert failures == []
    with open_store(store).connect() as connection:
        kinds = sorted(connection.execute(select(runs.c.kind)).scalars())
        imported = connection.execute(select(imported_files.c.path)).scalars().all()
    assert kinds == ["bench"] * 8 + ["imported"] and imported == [str(results / "old.json")]


def test_history_filters(store, converted):
    bench_into(store, converted["cnn"].variant("dynamic").path)
    bench_into(store, converted["dense"].variant("float32").path)
    everything = run_json("history", "--store", store)["configurations"]
    assert [r["model_name"] for r in everything] == ["dense.float32.tflite", "cnn.dynamic.tflite"]  # newest first
    only = run_json("history", "--store", store, "--mode", "dynamic", "--device", "local")["configurations"]
    assert [r["model_name"] for r in only] == ["cnn.dynamic.tflite"]
    by_sha = run_json("history", "--store", store, "--model", everything[0]["model_sha256"][:10])["configurations"]
    assert len(by_sha) == 1 and run_json("history", "--store", store, "--since", "2999-01-01")["configurations"] == []
    table = run("history", "--store", store)
    assert table.exit_code == 0 and "cnn.dynamic.tflite" in table.stdout


def test_diff_trips_on_a_real_regression_and_not_on_noise(store, speeds):
    bench_into(store, speeds["fast"], "--run-tag", "baseline")
    bench_into(store, speeds["fast"])
    same = run("diff", "baseline", "latest", "--fail-if-slower", "5", "--store", store)
    assert same.exit_code == 0, same.output  # the same model twice: no false alarm
    bench_into(store, speeds["slow"])  # the same file name, four times the work
    slower = run("diff", "baseline", "latest", "--fail-if-slower", "5", "--store", store, "--json")
    assert slower.exit_code == ExitCode.REGRESSION, slower.output
    (change,) = json.loads(slower.stdout)["tripped"]
    assert change["model"] == "model.tflite" and change["change"] > 0.5 and change["low"] > 0
    assert "regressed" in slower.stderr and "--fail-if-slower" not in slower.stderr
    assert run("diff", "latest~2", "latest~1", "--store", store).exit_code == 0


def test_diff_gates_accuracy(store, probes, tmp_path):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (40, 10)).astype(np.float32)
    labels = x.argmax(1)
    np.savez(tmp_path / "right.npz", x=x, y=labels)
    worse = labels.copy()
    worse[:10] = (worse[:10] + 1) % 10
    np.savez(tmp_path / "worse.npz", x=x, y=worse)
    run_json("eval", probes["identity"], "--data", tmp_path / "right.npz", "--store", store, "--run-tag", "good")
    run_json("eval", probes["identity"], "--data", tmp_path / "worse.npz", "--store", store)
    gated = run("diff", "good", "latest", "--fail-if-less-accurate", "5", "--store", store, "--json")
    assert gated.exit_code == ExitCode.REGRESSION, gated.output
    assert json.loads(gated.stdout)["tripped"][0]["change"] == pytest.approx(-25.0)


def test_unknown_runs_and_stores_are_named(store, tmp_path):
    missing = run("diff", "nope", "latest", "--store", store)
    assert missing.exit_code == ExitCode.BAD_INPUT and "no run 'nope'" in missing.stderr
    bad = run("history", "--store", "postgresql://nobody@127.0.0.1:1/none")
    assert bad.exit_code == ExitCode.DEVICE and "cannot open the results store" in bad.stderr


def test_the_report_in_a_real_browser(store, converted, probes, tmp_path):
    cnn = converted["cnn"]
    bench_into(store, cnn.variant("float32").path, "--run-tag", "before")
    run_json("bench", cnn.variant("float32").path, cnn.variant("dynamic").path, "--threads", 1, "--runs", 30,
             "--store", store)  # fmt: skip
    html = tmp_path / "report.html"
    made = run_json("report", "before", "latest", "-o", html, "--store", store)
    assert made["format"] == "html" and len(made["runs"]) == 2
    text = html.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text) and "<link" not in text  # nothing to fetch
    chromium = shutil.which("chromium") or pytest.fail("chromium is not installed (make setup installs it)")
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])  # fmt: skip
        page = browser.new_page()
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(html.as_uri())
        figures = page.locator("figure svg").count()
        tables = page.locator("table").count()
        headings = page.locator("h2").all_inner_texts()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert problems == []
    assert figures >= 3 and tables >= 2 and headings == ["local"]
    markdown = run_json("report", "latest", "-o", tmp_path / "pr.md", "--store", store)
    assert markdown["format"] == "md"
    pngs = sorted((tmp_path / "pr_files").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert f"pr_files/{pngs[0].name}" in (tmp_path / "pr.md").read_text()
