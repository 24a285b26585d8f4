"""history, diff, report: the commands that read the results store."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from edgedq.cli.app import cli, print_json, print_tables
from edgedq.cli.recording import store_option
from edgedq.cli.render import DataTable
from edgedq.errors import BadInput


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"--since {value!r}: give a date (2026-11-30) or a time (2026-11-30T14:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@cli.command("history")
@click.option("--device", help="Only this device.")
@click.option("--model", help="Only this model: its file name, or the beginning of its sha256.")
@click.option("--mode", help="Only this variant (float32, dynamic, float16, int8).")
@click.option("--since", help="Only runs from this date or time on (ISO, e.g. 2026-11-30).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Configurations shown.")
@store_option
@click.option("--json", "as_json", is_flag=True, help='Print {"configurations": [...]} (raw samples included).')
def history_command(
    device: str | None,
    model: str | None,
    mode: str | None,
    since: str | None,
    limit: int,
    store: str | None,
    as_json: bool,
) -> None:
    """Every configuration measured, newest first: when, where, what, how fast, how big, how accurate.

    \b
    edgedq history --device pi4 --model kws.dynamic.tflite --since 2026-11-01
    """
    from edgedq.store.engine import open_store
    from edgedq.store.records import history

    rows = history(open_store(store), device, model, mode, _since(since), limit)
    if as_json:
        print_json({"configurations": rows})
        return
    table = DataTable(title=Text(f"edgedq history: {len(rows)} configurations, newest first"))
    for column in ("when", "run", "device", "model", "mode", "thr", "p50 ms", "p90 ms", "RSS MB", "top-1", "runtime"):
        table.add_column(
            column, justify="right" if column in ("thr", "p50 ms", "p90 ms", "RSS MB", "top-1") else "left"
        )
    for r in rows:
        failed = Text("failed", "red") if r.get("error") else None
        table.add_row(
            f"{r['started_at']:%Y-%m-%d %H:%M}",
            r["run_id"] + (f" ({r['tag']})" if r.get("tag") else ""),
            r.get("device") or "-",
            r.get("model_name") or "-",
            r.get("mode") or "-",
            str(r["threads"]) if r.get("threads") else "-",
            failed or _num(r.get("p50_ms")),
            _num(r.get("p90_ms")),
            _num(r.get("peak_rss_mb")),
            f"{100 * r['accuracy']:.2f}%" if r.get("accuracy") is not None else "-",
            " ".join(filter(None, [r.get("runtime"), r.get("runtime_version")])) or "-",
        )
    print_tables(table)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


@cli.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--metric", type=click.Choice(["p50", "p90", "rss", "accuracy"]), default="p50", show_default=True)
@click.option("--fail-if-slower", type=click.FloatRange(min=0), metavar="PCT",
              help="Exit 13 if a configuration is significantly slower by more than PCT percent.")  # fmt: skip
@click.option("--fail-if-less-accurate", type=click.FloatRange(min=0), metavar="PTS",
              help="Exit 13 if a model's top-1 accuracy dropped by more than PTS points.")  # fmt: skip
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print the changes, with their intervals and the gates.")
def diff_command(
    run_a: str,
    run_b: str,
    metric: str,
    fail_if_slower: float | None,
    fail_if_less_accurate: float | None,
    store: str | None,
    as_json: bool,
) -> None:
    """What changed from RUN_A to RUN_B (an id, latest, latest~1, or a run tag), and whether it is real.

    \b
    edgedq diff baseline latest --fail-if-slower 5      # a CI gate
    """
    from edgedq.store.diff import RegressionFound, diff_runs
    from edgedq.store.engine import open_store
    from edgedq.store.records import configurations_of, resolve

    engine = open_store(store)
    a, b = resolve(engine, run_a), resolve(engine, run_b)
    result = diff_runs(a, configurations_of(engine, a), b, configurations_of(engine, b), metric,
                       fail_if_slower, fail_if_less_accurate)  # fmt: skip
    if as_json:
        print_json(result.as_dict())
    else:
        print_tables(_diff_table(result))
        for name in result.only_in_a:
            click.echo(f"only in {a}: {name}", err=True)
        for name in result.only_in_b:
            click.echo(f"only in {b}: {name}", err=True)
    if not result.changes:
        raise BadInput(f"runs {a} and {b} share no configuration", hint="compare runs of the same models and device")
    if result.tripped:
        worst = result.tripped[0]
        raise RegressionFound(
            f"{len(result.tripped)} configuration(s) regressed, e.g. {worst.device}: {worst.model} {worst.metric} "
            f"{_change(worst)}",
            hint="see the table above; a change counts only when its 95 % interval excludes no change",
        )


def _change(change: Any) -> str:
    if change.change is None:
        return "-"
    if change.metric == "accuracy":
        return f"{change.change:+.2f} pts"
    interval = f" [{change.low * 100:+.1f}, {change.high * 100:+.1f}]" if change.low is not None else ""
    return f"{change.change * 100:+.1f}%{interval}"


def _diff_table(result: Any) -> DataTable:
    table = DataTable(title=Text(f"edgedq diff {result.run_a} -> {result.run_b} ({result.metric}; "
                                 "latency: 95 % bootstrap interval of the change)"))  # fmt: skip
    for column in ("device", "model", "thr", "metric", "before", "after", "change [95 % interval]", ""):
        table.add_column(column, justify="left" if column in ("device", "model", "metric", "") else "right")
    for c in result.changes:
        verdict = Text("REGRESSED", "bold red") if c.tripped else Text("significant", "yellow") if c.significant else ""
        table.add_row(c.device, c.model, str(c.threads) if c.threads else "-", c.metric, _num(c.before),
                      _num(c.after), _change(c), verdict)  # fmt: skip
    return table


@cli.command("report")
@click.argument("runs", nargs=-1)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="report.html or report.md.")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), help="Default: from the output's suffix.")
@store_option
@click.option("--json", "as_json", is_flag=True, help='Print {"output", "runs"}.')
def report_command(runs: tuple[str, ...], output: Path, fmt: str | None, store: str | None, as_json: bool) -> None:
    """A report of RUNS (default: latest) to look at: one self-contained HTML file, or Markdown with PNGs.

    \b
    edgedq report latest -o report.html
    edgedq report baseline latest -o pr.md        # for a pull request
    """
    from edgedq.store.engine import open_store
    from edgedq.store.records import resolve
    from edgedq.store.report import build_report

    engine = open_store(store)
    ids = list(dict.fromkeys(resolve(engine, ref) for ref in runs or ("latest",)))
    chosen = fmt or ("md" if output.suffix.lower() in (".md", ".markdown") else "html")
    build_report(engine, ids, output, chosen)
    if as_json:
        print_json({"output": str(output), "runs": ids, "format": chosen})
    else:
        click.echo(f"report of {', '.join(ids)}: {output}")
