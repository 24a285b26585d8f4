"""``edgedq tune``: rank the layers on the host, make the candidates, measure each on every board, choose.

Each board runs in its own thread and is held (its lock) for its whole part: every candidate is pushed once, then
each is evaluated on the labelled data and benchmarked with ``bench``'s method (a fresh agent process, XNNPACK),
float32 first: it is the reference the budget is measured from.  A time budget is checked between candidates
(a candidate is measured whole or not at all); when it runs out the run keeps what it measured and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from edgedq.device import close_all
from edgedq.device.inventory import Device, get_device
from edgedq.errors import BadInput, ConnectionFailed, DeviceError, EdgedqError
from edgedq.measure.bench import BenchOptions, bench_config
from edgedq.measure.datasets import Dataset, load_dataset
from edgedq.measure.evaluate import eval_model
from edgedq.measure.events import DeviceDone, Events, Stage, no_events
from edgedq.measure.runner import AgentRunner, connection_to
from edgedq.tflite.describe import describe_model
from edgedq.tune import candidates as recipes
from edgedq.tune.choose import Point, choose, pareto_front, reason, within_budget
from edgedq.tune.output import check_output, save_chosen
from edgedq.tune.result import CandidateResult, DeviceTune, TuneReport
from edgedq.tune.sensitivity import SAMPLES, data_samples, rank_layers

METRICS = ("p50", "p90")


@dataclass
class TuneOptions:
    max_drop: float = 0.5  # top-1 points below float32 a candidate may lose
    metric: str = "p50"
    threads: int | None = None  # None: each board's first thread count
    runs: int = 50
    warmup: int = 5
    budget_min: float | None = None  # wall-clock minutes for the whole run
    calibration: Path | None = None  # int8 candidates only with it
    output: Path | None = None
    samples: int = SAMPLES  # inputs the sensitivity is measured on
    timeout: float = 300.0
    lock_wait: float = 600.0
    parallel: int = 8
    batch: int | None = 1
    custom_objects: list[str] = field(default_factory=list)
    classes: list[str] | None = None  # label names in order (a folder's subfolders are matched to them)

    def check(self) -> None:
        if self.metric not in METRICS:
            raise BadInput(f"--metric {self.metric!r}: choose p50 or p90")
        if self.max_drop < 0:
            raise BadInput(f"--max-drop must be 0 or more points, not {self.max_drop:g}")
        if self.budget_min is not None and self.budget_min <= 0:
            raise BadInput(f"--budget-min must be more than 0 minutes, not {self.budget_min:g}")
        if (self.threads is not None and self.threads < 1) or self.runs < 1 or self.samples < 1:
            raise BadInput("--threads, --runs and the sample count must be at least 1")


class Budget:
    """The run's time budget: started once, asked between steps."""

    def __init__(self, minutes: float | None) -> None:
        self.minutes, self.started = minutes, time.monotonic()

    def spent(self) -> bool:
        return self.minutes is not None and time.monotonic() - self.started >= self.minutes * 60.0

    def said(self, what: str) -> str:
        return f"the time budget ({self.minutes:g} min) ran out: {what}"


def tune(
    source: str | Path,
    data: str | Path,
    devices: Sequence[Device | str] | str = "local",
    options: TuneOptions | None = None,
    *,
    inventory: str | Path | None = None,
    accept_new_host: bool = False,
    on_stage: Callable[[str], None] | None = None,
    on_event: Events | None = None,
) -> TuneReport:
    """The fastest candidate of ``source`` within ``options.max_drop`` points of float32's top-1 on ``data``, per
    board of ``devices`` (inventory names or ``Device`` objects), chosen by measuring every candidate there."""
    options, stage, notify = options or TuneOptions(), on_stage or (lambda _text: None), on_event or no_events
    options.check()
    budget = Budget(options.budget_min)
    names = [devices] if isinstance(devices, str) else list(devices)
    boards = [d if isinstance(d, Device) else get_device(d, inventory) for d in names]
    if not boards:
        raise DeviceError("say where to tune", hint="pass --device NAME (see 'edgedq devices')")
    source, data = Path(source).expanduser(), Path(data).expanduser()
    if source.suffix == ".tflite":
        raise BadInput(
            f"{source}: tune needs the TensorFlow model (SavedModel, .keras, .h5)",
            hint="it converts every candidate from it; a .tflite can only be measured as it is (edgedq bench)",
        )
    if not data.exists():
        raise BadInput(f"{data}: no such file or folder", hint="give labelled data: an .npz (x, y) or a class folder")
    output = Path(options.output).expanduser() if options.output is not None else None
    if output is not None:
        check_output(output, [source, data, options.calibration])
    conversion = {"batch": options.batch, "custom_objects": list(options.custom_objects)}
    identity = {"calibration": _sha(options.calibration), **conversion}
    stage("converting float32, dynamic, float16" + (" and int8" if options.calibration else ""))
    base = recipes.convert_base(source, recipes.work_folder(source, identity), options.calibration, stage,
                                **conversion)  # fmt: skip
    float32, dynamic = base["float32"].path, base["dynamic"].path
    tensor = describe_model(float32.read_bytes(), str(float32)).inputs[0]
    dataset = load_dataset(data, tensor.shape, options.classes)
    report = TuneReport(str(source), dataset.source, options.max_drop, options.metric)
    samples = data_samples(dataset.x, dataset.frontend, options.samples)
    shapes = [(None, [1, *samples.shape[1:]])] if tensor.open_dims else []  # bench runs open inputs at the data's
    stage(f"sensitivity of each quantized layer on {len(samples)} samples")
    report.sensitivity = rank_layers(float32, dynamic, samples,
                                     lambda done, total: stage(f"sensitivity: sample {done}/{total}"))  # fmt: skip
    plan = recipes.plan(report.sensitivity, calibrated=options.calibration is not None)
    folder = recipes.work_folder(source, {**identity, "plan": [r.keep_float for r in plan]})
    made = []
    for recipe in plan:
        if recipe.keep_float and budget.spent():
            report.notes.append(budget.said(f"{recipe.name} and the candidates after it were not converted"))
            break
        if recipe.keep_float:
            stage(f"converting {recipe.name}")
        made.append(recipes.convert_recipe(source, recipe, folder, options.calibration, stage, **conversion))
    candidates = [CandidateResult(c.recipe.name, c.recipe.mode, list(c.recipe.keep_float), str(c.path),
                                  c.size_bytes) for c in made]  # fmt: skip
    report.host_seconds = time.monotonic() - budget.started
    stage(f"{len(candidates)} candidates ready; measuring them on {', '.join(b.name for b in boards)}")
    with ThreadPoolExecutor(max_workers=min(options.parallel, len(boards))) as pool:
        futures = [pool.submit(_tune_board, board, candidates, dataset, shapes, options, budget, notify, inventory,
                               accept_new_host) for board in boards]  # fmt: skip
        try:
            report.devices = [future.result() for future in futures]
        except KeyboardInterrupt:  # stop every board now: closing the connections wakes each thread
            for future in futures:
                future.cancel()
            close_all()
            raise
    if output is not None:
        save_chosen(report, {c.recipe.name: c for c in made}, output, [source, data, options.calibration])
    report.seconds = time.monotonic() - budget.started
    return report


def _sha(path: Path | None) -> str | None:
    from edgedq.files import sha256_file

    if path is None:
        return None
    if not Path(path).is_file():
        raise BadInput(f"calibration data {path}: no such file")
    return sha256_file(Path(path))


def _tune_board(
    device: Device,
    candidates: list[CandidateResult],
    dataset: Dataset,
    shapes: list[tuple[str | None, list[int]]],
    options: TuneOptions,
    budget: Budget,
    notify: Events,
    inventory: str | Path | None,
    accept_new_host: bool,
) -> DeviceTune:
    """One board's part; its failure is recorded in its result, not raised (the other boards go on)."""
    result = DeviceTune(device.name, [CandidateResult(**{**c.__dict__}) for c in candidates])
    threads = options.threads or device.threads[0]
    bench_options = BenchOptions(threads=[threads], runs=options.runs, warmup=options.warmup,
                                 timeout=options.timeout, lock_wait=options.lock_wait, input_shapes=shapes)  # fmt: skip
    paths = [Path(c.path) for c in result.candidates]
    try:
        with (
            connection_to(device, None, inventory, accept_new_host, notify) as connection,
            AgentRunner(connection, [*paths, dataset.x], options.lock_wait, notify) as runner,
        ):
            for index, candidate in enumerate(result.candidates):
                if index > 0 and budget.spent():
                    result.stopped_early = budget.said(f"{len(result.candidates) - index} candidate(s) not measured")
                    for skipped in result.candidates[index:]:
                        skipped.error = {"error": "Skipped", "message": "not measured: the time budget ran out"}
                    break
                notify(Stage(device.name, f"candidate {index + 1}/{len(result.candidates)}: {candidate.name}"))
                _measure(runner, candidate, dataset, threads, bench_options, notify)
            result.notes += connection.notes
    except EdgedqError as error:
        result.error = error.as_dict()
    _decide(result, options)
    notify(DeviceDone(device.name, result.error["message"] if result.error else None))
    return result


def _measure(
    runner: AgentRunner,
    candidate: CandidateResult,
    dataset: Dataset,
    threads: int,
    options: BenchOptions,
    notify: Events,
) -> None:
    """Accuracy on the labelled data, then latency; a failure of either is the candidate's, not the board's."""
    path = Path(candidate.path)
    try:
        candidate.eval, _reply = eval_model(runner, path, dataset, threads, options.timeout, options.input_shapes,
                                            notify)  # fmt: skip
        candidate.accuracy = candidate.eval.top1
    except ConnectionFailed:
        raise
    except EdgedqError as error:
        candidate.error = error.as_dict()
        return
    candidate.bench = bench_config(runner, path, threads, True, options, notify)
    stats = candidate.bench.latency_ms
    if candidate.bench.error is not None or stats is None:
        candidate.error = candidate.bench.error
        return
    candidate.latency_ms = {"p50": stats.p50, "p90": stats.p90}


def _decide(result: DeviceTune, options: TuneOptions) -> None:
    """The budget rule on what this board measured; notes for what the user must know about it."""
    reference = next((c for c in result.candidates if c.name == "float32"), None)
    failed = [c for c in result.candidates if c.error and c.error.get("error") != "Skipped"]
    result.notes += [f"{c.name}: {c.error['message']}" for c in failed]  # type: ignore[index]
    facts = next((c.bench.device_facts for c in result.candidates if c.bench and c.bench.device_facts), {})
    result.emulated = facts.get("emulated")
    if result.emulated:
        result.notes.append(f"the board is emulated ({result.emulated}): latency is meaningless, and so is the "
                            "choice by speed; a real board of this CPU may choose differently")  # fmt: skip
    if result.error is not None:
        return
    if reference is None or reference.accuracy is None:
        why = reference.error["message"] if reference and reference.error else "it was not measured"
        result.error = EdgedqError(f"{result.device}: float32, the reference, has no accuracy: {why}").as_dict()
        return
    result.float32_accuracy = reference.accuracy
    for candidate in result.candidates:
        candidate.within_budget = within_budget(reference.accuracy, candidate.accuracy, options.max_drop)
    points = [Point(c.name, c.accuracy, c.latency(options.metric), c.size_bytes) for c in result.candidates]
    result.pareto_front = pareto_front(points)
    best = choose(points, reference.accuracy, options.max_drop)
    if best is None:
        result.error = EdgedqError(f"{result.device}: no candidate has both an accuracy and a latency",
                                   hint="see the notes: every benchmark failed").as_dict()  # fmt: skip
        return
    result.chosen = next(c for c in result.candidates if c.name == best.name)
    result.reason = reason(points, best, reference.accuracy, options.max_drop, options.metric)
