"""One run: the baseline of each target, every mutant on the workers in parallel, and the report."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import queue
import threading
import time

from tools.mutants import EQUIVALENT, ROOT, WORKDIR
from tools.mutants.copies import Worker, tree_files
from tools.mutants.mutations import Mutant, Target, find_mutants, load_config, load_equivalent


@dataclasses.dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, timeout, survived, equivalent
    seconds: float
    detail: str


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    load_before = os.getloadavg()
    settings, targets = load_config(args.config)
    if args.target:
        targets = [t for t in targets if any(text in t.label for text in args.target)]
        if not targets:
            raise SystemExit(f"mutants: no target matches {args.target}")
    mutants = find_mutants(targets)
    if args.only:
        mutants = [m for m in mutants if any(text in m.key for text in args.only)]
    reviewed = load_equivalent(args.equivalent)
    if args.list:
        for mutant in mutants:
            mark = "  (equivalent)" if mutant.key in reviewed else ""
            print(f"{mutant.key}  {mutant.path}:{mutant.line}{mark}\n" + _indent(mutant.diff()))
        print(f"{len(mutants)} mutants in {len(targets)} targets")
        return 0

    workers_count = max(1, min(args.workers or int(settings.get("workers", 2)), len(mutants) or 1))
    WORKDIR.mkdir(parents=True, exist_ok=True)
    assets = WORKDIR / "assets"
    names = tree_files()
    workers = [Worker(n, names, assets) for n in range(workers_count)]
    for worker in workers:
        worker.check_imports()
    print(
        f"mutants: {len(mutants)} in {len(targets)} targets, {workers_count} workers on copies in {WORKDIR} "
        f"(load {load_before[0]:.2f})",
        flush=True,
    )

    # The fixtures' models and conversions, once (serially, so that two sessions never build them at once).
    status, seconds, detail = workers[0].pytest(["tests/test_zz_mutants_warmup.py"], timeout=1800)
    if status != "passed":
        print(f"mutants: building the test assets failed ({detail})\n{workers[0].last_output}")
        return 2
    print(f"mutants: test assets ready in {seconds:.0f} s", flush=True)

    # Each target's tests unmutated: they must pass, and their time sets the mutants' timeout.
    factor, extra = float(settings.get("timeout_factor", 3.0)), float(settings.get("timeout_extra_s", 15.0))
    stall_extra = float(settings.get("silence_extra_s", 5.0))
    failures = _in_parallel(
        workers,
        [(t, None) for t in targets if any(m.target == t.index for m in mutants)],
        lambda worker, job: _baseline(worker, job[0]),
    )
    if any(failures):
        for failure in filter(None, failures):
            print(failure)
        return 2

    # Longest first, so that the workers finish together.
    by_index = {t.index: t for t in targets}
    jobs = sorted(mutants, key=lambda m: -by_index[m.target].baseline_s)
    done: list[Outcome] = []
    lock = threading.Lock()

    def one(worker: Worker, mutant: Mutant) -> Outcome:
        target = by_index[mutant.target]
        path = worker.root / mutant.path
        assert worker.root in path.parents and ROOT not in path.parents  # only ever a copy is edited
        original = path.read_text()
        path.write_text(mutant.apply(original))
        try:
            status, seconds, detail = worker.pytest(
                target.tests, factor * target.baseline_s + extra, factor * target.quiet_s + stall_extra
            )
        finally:
            path.write_text(original)
        verdict = {"failed": "killed", "timeout": "timeout"}.get(status)
        if verdict is None:
            verdict, detail = ("equivalent", reviewed[mutant.key]) if mutant.key in reviewed else ("survived", "")
        outcome = Outcome(mutant, verdict, seconds, detail)
        with lock:
            done.append(outcome)
            if verdict == "survived":
                print(f"SURVIVED {mutant.key}  {mutant.path}:{mutant.line}\n{_indent(mutant.diff())}", flush=True)
            if args.verbose or len(done) % 25 == 0 or len(done) == len(jobs):
                elapsed = time.monotonic() - started
                print(f"  [{len(done)}/{len(jobs)}] {elapsed / 60:.1f} min", flush=True)
            if args.verbose:
                print(f"    {verdict:10} {seconds:5.1f}s {mutant.key} {detail[:100]}", flush=True)
        return outcome

    _in_parallel(workers, jobs, one)
    load_after = os.getloadavg()
    return report(
        done, targets, reviewed, mutants, time.monotonic() - started, load_before, load_after, workers_count, args
    )


def _baseline(worker: Worker, target: Target) -> str | None:
    status, seconds, detail = worker.pytest(target.tests, timeout=1800)
    if status != "passed":  # once more: a test that fails now and then must not cost the whole run
        print(f"  baseline of {target.label} failed ({detail}); trying once more", flush=True)
        status, seconds, detail = worker.pytest(target.tests, timeout=1800)
    target.baseline_s, target.quiet_s = seconds, worker.longest_quiet
    print(f"  baseline {seconds:5.1f} s (longest silence {target.quiet_s:.1f} s)  {target.label}", flush=True)
    if status != "passed":
        tail = "\n".join(worker.last_output.strip().splitlines()[-40:])
        return f"mutants: the tests of {target.label} fail unmutated ({status}): {detail}\n{tail}"
    return None


def _in_parallel(workers: list[Worker], jobs: list, work) -> list:
    """``work(worker, job)`` for every job, each worker taking the next job as it frees up; results in job order."""
    pending: queue.Queue = queue.Queue()
    for index, job in enumerate(jobs):
        pending.put((index, job))
    results: list = [None] * len(jobs)
    errors: list[BaseException] = []

    def loop(worker: Worker) -> None:
        while not errors:
            try:
                index, job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = work(worker, job)
            except BaseException as exc:  # noqa: BLE001 - reported below, after the other worker stops
                errors.append(exc)

    threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _indent(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())


def report(done, targets, reviewed, mutants, wall, load_before, load_after, workers, args) -> int:
    counts = {t.index: dict.fromkeys(("killed", "timeout", "equivalent", "survived"), 0) for t in targets}
    for outcome in done:
        counts[outcome.mutant.target][outcome.status] += 1
    out = io.StringIO()
    width = max(len(t.label) for t in targets)
    out.write(f"\n{'target':{width}}  tried  killed  timeout  equivalent  surviving  baseline\n")
    totals = dict.fromkeys(("killed", "timeout", "equivalent", "survived"), 0)
    for target in targets:
        row = counts[target.index]
        tried = sum(row.values())
        if not tried:
            continue
        for name in totals:
            totals[name] += row[name]
        out.write(
            f"{target.label:{width}}  {tried:5}  {row['killed']:6}  {row['timeout']:7}  {row['equivalent']:10}"
            f"  {row['survived']:9}  {target.baseline_s:6.1f} s\n"
        )
    tried = sum(totals.values())
    out.write(
        f"{'total':{width}}  {tried:5}  {totals['killed']:6}  {totals['timeout']:7}  {totals['equivalent']:10}"
        f"  {totals['survived']:9}\n"
    )
    out.write(
        f"\nmutants: {tried} tried, {totals['killed']} killed, {totals['timeout']} timed out, "
        f"{totals['equivalent']} equivalent (reviewed), {totals['survived']} surviving; "
        f"wall time {wall / 60:.1f} min on {workers} workers; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after\n"
    )
    survivors = [o for o in done if o.status == "survived"]
    if survivors:
        out.write(f"\nsurviving mutants: each needs a test that kills it, or a line in {EQUIVALENT.name}:\n")
        for outcome in sorted(survivors, key=lambda o: (o.mutant.path, o.mutant.line)):
            mutant = outcome.mutant
            out.write(f"\n# {mutant.path}:{mutant.line} {mutant.function}\n{_indent(mutant.diff())}\n")
            out.write(f"{mutant.key}  REASON\n")
    generated = {m.key for m in mutants}
    killed_but_listed = [o.mutant.key for o in done if o.status in ("killed", "timeout") and o.mutant.key in reviewed]
    if killed_but_listed:
        out.write(f"\nlisted as equivalent but killed (remove them from {EQUIVALENT.name}):\n")
        out.write("".join(f"  {key}\n" for key in killed_but_listed))
    paths = {t.path for t in targets}
    stale = [key for key in reviewed if key.split("::")[0] in paths and key not in generated and not args.only]
    if stale and not args.target:
        out.write(f"\nlisted in {EQUIVALENT.name} but no longer made (the code changed: review and remove):\n")
        out.write("".join(f"  {key}\n" for key in stale))
    print(out.getvalue(), end="")
    record = {
        "wall_s": wall,
        "workers": workers,
        "load": [load_before, load_after],
        "totals": totals,
        "outcomes": [
            {
                "key": o.mutant.key,
                "status": o.status,
                "seconds": round(o.seconds, 2),
                "detail": o.detail[:300],
                "line": o.mutant.line,
                "diff": o.mutant.diff(),
            }
            for o in done
        ],
    }
    (WORKDIR / "report.json").write_text(json.dumps(record, indent=1))
    (WORKDIR / "report.txt").write_text(out.getvalue())
    return 1 if survivors else 0
