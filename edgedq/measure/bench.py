"""``edgedq bench``: every (model, threads, xnnpack) configuration in a fresh agent process.

The agent returns raw samples; statistics, comparisons and warnings are made
here, so every device is judged by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgedq_agent import inputs as agent_inputs

from edgedq.device.connection import Connection, PushReport
from edgedq.device.inventory import Device, get_device
from edgedq.errors import BadInput, ConnectionFailed, EdgedqError, Outcome, RunsFailed
from edgedq.files import sha256_file
from edgedq.measure.events import Events, RunFailed, RunStarted, no_events
from edgedq.measure.runner import AgentRunner, connection_to
from edgedq.measure.stats import LatencyStats
from edgedq.tflite.describe import describe_model
from edgedq.tflite.flatbuffer import check_model_file

HOT_C = 80.0  # a Raspberry Pi starts to throttle around 80-85 C
WIDE_SPREAD = 0.25  # p90 more than 25 % above the median: too noisy to trust a small difference


@dataclass
class BenchOptions:
    threads: list[int] = field(default_factory=list)  # empty: the device's own (its inventory ``threads``)
    xnnpack: list[bool] = field(default_factory=lambda: [True])
    runs: int = 50
    warmup: int = 1
    min_secs: float = 0.0
    max_secs: float = 150.0
    timeout: float = 120.0  # silence from the agent longer than this means it hung
    inputs: Path | None = None
    input_shapes: list[tuple[str | None, list[int]]] = field(default_factory=list)  # --input-shape
    lock_wait: float = 600.0  # how long to wait for another run holding the device
    profile: bool = False  # also profile each configuration per operator (its top operators in the result)

    @property
    def deadline_s(self) -> float:
        """A configuration's whole time: warm-up and counted runs (each capped by max_secs), load and slack."""
        return 2 * (self.max_secs + self.timeout) * (2 if self.profile else 1)  # --profile runs them again


@dataclass
class ConfigResult:
    model: str
    model_sha256: str
    device: str
    threads: int
    xnnpack: bool
    size_bytes: int = 0
    latency_ms: LatencyStats | None = None
    samples_ms: list[float] = field(default_factory=list)
    warmup_ms: list[float] = field(default_factory=list)  # the warm-up runs, kept apart from the counted ones
    init_ms: float | None = None
    first_inference_ms: float | None = None
    memory_mb: dict[str, float | None] = field(default_factory=dict)
    delegation: dict[str, Any] = field(default_factory=dict)
    device_facts: dict[str, Any] = field(default_factory=dict)
    thermal: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, str] = field(default_factory=dict)
    runtime_load_ms: float | None = None  # importing the runtime in the fresh agent process: a cold-start cost
    input_shapes: dict[str, list[int]] = field(default_factory=dict)  # the shapes that were really measured
    outputs: dict[str, Any] = field(default_factory=dict)  # per output: the shape measured and a checksum
    warnings: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None  # bench --profile: coverage and top operators, or {"error": ...}

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "latency_ms"}
        data["latency_ms"] = self.latency_ms.as_dict() if self.latency_ms else None
        return data


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024.0, 3)


def _fill(result: ConfigResult, hello: dict[str, Any], reply: dict[str, Any]) -> None:
    result.device_facts = hello["facts"]
    result.runtime, result.runtime_load_ms = reply["runtime"], reply.get("runtime_load_ms")
    result.samples_ms, result.warmup_ms = reply["samples_ms"], reply["warmup_ms"]
    result.latency_ms = LatencyStats.from_samples(reply["samples_ms"])
    result.init_ms, result.first_inference_ms = reply["init_ms"], reply["first_inference_ms"]
    memory = reply["memory_kb"]
    model_delta = None
    if memory["rss_after_load"] is not None and memory["rss_before_load"] is not None:
        model_delta = memory["rss_after_load"] - memory["rss_before_load"]
    run_delta = None
    if memory["rss_after_run"] is not None and memory["rss_after_load"] is not None:
        run_delta = memory["rss_after_run"] - memory["rss_after_load"]
    result.memory_mb = {
        "peak_rss": _mb(memory["peak_rss"]),
        "model_delta": _mb(model_delta),
        "run_delta": _mb(run_delta),
        "rss_after_run": _mb(memory["rss_after_run"]),
        "pss": _mb(memory["pss"]),
        "uss": _mb(memory["uss"]),
    }
    result.delegation = reply["delegation"]
    result.outputs = reply.get("outputs", {})
    result.input_shapes = reply.get("input_shapes", {})
    before, after = reply["thermal"]["before"], reply["thermal"]["after"]
    throttled = sorted(set(before.get("throttled_now", [])) | set(after.get("throttled_now", [])))
    result.thermal = {"before": before, "after": after, "throttled": throttled}
    result.warnings = _warnings(result)
    if reply.get("profile") is not None:
        from edgedq.measure.profile import summarize, top_ops

        result.profile = top_ops(summarize(Path(result.model), reply["profile"]))
    elif reply.get("profile_error") is not None:
        result.profile = {"error": reply["profile_error"]}
        result.warnings.append(f"no profile: {reply['profile_error']['message']}")


def _warnings(result: ConfigResult) -> list[str]:
    warnings = []
    if result.device_facts.get("emulated"):
        warnings.append(f"the board is emulated ({result.device_facts['emulated']}): latency is meaningless")
    if result.thermal["throttled"]:
        warnings.append(f"the device was throttled during the run: {', '.join(result.thermal['throttled'])}")
    temps = [s.get("temperature_c") for s in (result.thermal["before"], result.thermal["after"])]
    hottest = max((t for t in temps if t is not None), default=None)
    if hottest is not None and hottest >= HOT_C:
        warnings.append(f"the SoC reached {hottest:.0f} C: expect throttling")
    stats = result.latency_ms
    if stats and stats.spread > WIDE_SPREAD:
        warnings.append(
            f"wide spread: p90 is {stats.spread:.0%} above the median "
            f"({stats.p50:.3g} vs {stats.p90:.3g} ms); add runs or quiet the device"
        )
    if result.delegation.get("fallback_ops"):
        fallback = ", ".join(f"{k} x{v}" for k, v in result.delegation["fallback_ops"].items())
        warnings.append(f"XNNPACK left nodes to builtin kernels: {fallback}")
    return warnings


@dataclass
class BenchReport(Outcome):
    """One device's run: a result per configuration, what was pushed, or why the device could not be used."""

    device: str
    results: list[ConfigResult] = field(default_factory=list)
    push: PushReport | None = None
    error: dict[str, Any] | None = None  # the device failed as a whole (unreachable, busy ...)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what the device did that is worth knowing, not an error

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.results)

    def failure(self) -> EdgedqError | None:
        """The device's own error; else, all configurations failed alike: that error; some failed: RunsFailed."""
        if self.error is not None:
            return EdgedqError.from_dict(self.error)
        failed = [r for r in self.results if r.error is not None]
        if failed and len(failed) == len(self.results) and len({r.error["error"] for r in failed}) == 1:
            return EdgedqError.from_dict(failed[0].error)  # type: ignore[arg-type]
        if failed:
            return RunsFailed(
                f"{self.device}: {len(failed)} of {len(self.results)} configurations failed",
                hint=failed[0].error.get("hint") or "see the errors above",  # type: ignore[union-attr]
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "results": [r.as_dict() for r in self.results],
            "push": self.push.as_dict() if self.push else None,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
        }


def bench(
    models: list[Path] | list[str],
    device: Device | str = "local",
    options: BenchOptions | None = None,
    *,
    connection: Connection | None = None,
    inventory: str | Path | None = None,
    accept_new_host: bool = False,
    on_event: Events | None = None,
) -> BenchReport:
    """Hold the device, push what it lacks, run every configuration; a failed one is reported and the rest run.

    ``device`` is a ``Device`` or an inventory name; ``connection`` reuses one that is already open.
    """
    device = device if isinstance(device, Device) else get_device(device, inventory)
    options = replace(options or BenchOptions(), threads=(options and options.threads) or device.threads)
    notify = on_event or no_events
    models = [Path(m) for m in models]
    data = [*models, *([Path(options.inputs)] if options.inputs else [])]
    for path in data:
        if not path.is_file():
            raise BadInput(f"{path}: no such file")
    for model in models:
        check_model_file(model)
        if options.inputs is None:
            check_shapes(model, options.input_shapes)
    with connection_to(device, connection, inventory, accept_new_host, notify) as opened:
        return _bench_on(opened, models, options, data, notify)


def check_shapes(model: Path, shapes: list[tuple[str | None, list[int]]]) -> None:
    """Refuse, before anything runs, an input with open dimensions and no shape: it would be timed at size 1."""
    description = describe_model(model.read_bytes(), str(model))
    details = [{"name": t.name, "signature_name": t.signature_name, "shape": [], "shape_signature": t.shape}
               for t in description.inputs]  # fmt: skip
    try:
        given = agent_inputs.resolve_shapes(details, dict(shapes))
    except ValueError as exc:
        raise BadInput(f"{model.name}: {exc}") from None
    for tensor in description.inputs:
        if tensor.open_dims and tensor.name not in given:
            example = ",".join("N" if d < 0 else str(d) for d in tensor.shape)
            raise BadInput(
                f"{model.name}: input {tensor.label} has open dimensions "
                f"{[d if d >= 0 else None for d in tensor.shape]}: bench would time it at size 1",
                hint=f"give the shape to run at, --input-shape {tensor.label}:{example.replace('N', '1', 1)}, "
                "or real inputs with --inputs FILE.npz",
            )


def _bench_on(
    connection: Connection, models: list[Path], options: BenchOptions, data: list[Path], notify: Events
) -> BenchReport:
    report = BenchReport(connection.name)
    with AgentRunner(connection, data, options.lock_wait, notify) as runner:
        report.push = runner.push
        for model in models:
            for threads in options.threads:
                for xnnpack in options.xnnpack:
                    report.results.append(bench_config(runner, model, threads, xnnpack, options, notify))
    report.notes = connection.notes
    return report


def bench_config(
    runner: AgentRunner, model: Path, threads: int, xnnpack: bool, options: BenchOptions, notify: Events
) -> ConfigResult:
    """One configuration in a fresh agent process on a device already held (``model`` pushed by ``runner``);
    a failure is the result's error, a lost connection is raised."""
    device = runner.device
    result = ConfigResult(str(model), sha256_file(model), device, threads, xnnpack, model.stat().st_size)
    label = f"{model.name} threads={threads}{'' if xnnpack else ' no-xnnpack'}"
    notify(RunStarted(device, label))
    body = {
        "model": runner.remote(model),
        "threads": threads,
        "xnnpack": xnnpack,
        "runs": options.runs,
        "warmup": options.warmup,
        "min_secs": options.min_secs,
        "max_secs": options.max_secs,
        "inputs": runner.remote(options.inputs) if options.inputs else None,
        "input_shapes": [[name, dims] for name, dims in options.input_shapes],
        "profile": options.profile,
    }
    try:
        files = [model, *([options.inputs] if options.inputs else [])]
        deadline = options.deadline_s
        hello, reply = runner.request("bench", body, options.timeout, label, verify=files, deadline_s=deadline)
        _fill(result, hello, reply)
    except ConnectionFailed:
        raise  # the device is gone: its other configurations cannot run either
    except EdgedqError as error:
        result.error = error.as_dict()
        notify(RunFailed(device, label, error.message))
    return result
