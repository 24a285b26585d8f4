"""Tables for the terminal.  Formatting only: every number comes from the library."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from edgedq.conversion.pipeline import ConversionResult
    from edgedq.tflite.compare import Comparison
    from edgedq.tflite.inspection import ModelReport


class DataTable(Table):
    """A table whose text is data (names from an inventory, a board or a model): never read as markup.

    A cell that means to be styled is given as a ``Text``; every ``str`` is shown as it is.
    """

    def __init__(self, title: str | Text | None = None, **options: Any) -> None:
        super().__init__(title=Text(title) if isinstance(title, str) else title, title_justify="left", **options)

    def add_row(self, *cells: Any, **options: Any) -> None:
        super().add_row(*[Text(cell) if isinstance(cell, str) else cell for cell in cells], **options)


def size_text(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def ratio_text(value: float) -> str:
    """1.23x; small ratios (unrelated models side by side) keep two significant digits instead of showing 0.00x."""
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.2g}x"


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _digits(value: float | None, digits: int = 5) -> str:
    """``digits`` significant digits, trailing zeros kept: 1.0000, not 1; 0.99891."""
    return "-" if value is None else f"{value:#.{digits}g}"


def conversion_table(result: ConversionResult) -> Table:
    """One row per variant: size, what XNNPACK takes, fidelity against float32 (worst output), cached or not."""
    first = result.variants[0].manifest
    batch = first["options"].get("batch")
    title = f"{result.source.path} ({result.source.kind.value}), batch {batch if batch else 'open'}"
    table = DataTable(title=title)
    columns = ("mode", "file", "size", "vs f32", "int8 w", "XNNPACK", "cosine", "max |err|", "top-1", "")
    for column in columns:
        table.add_column(column, justify="left" if column in ("mode", "file", "") else "right")
    seen: list[str] = []
    for variant in result.variants:
        manifest = variant.manifest
        outputs = (manifest.get("fidelity") or {}).get("outputs") or []
        worst = min(outputs, key=lambda o: o["cosine_similarity"]) if outputs else None
        top1 = [o["top1_agreement"] for o in outputs if o["top1_agreement"] is not None]
        delegation = manifest.get("delegation") or {}
        partitions = delegation.get("partitions")
        xnnpack = "-" if partitions is None else f"{partitions} part" + ("" if partitions == 1 else "s")
        table.add_row(
            variant.mode,
            variant.path.name,
            size_text(manifest["model"]["size_bytes"]),
            f"{manifest['model']['size_vs_float32']:.2f}x",
            str(sum(op.get("weight_dtypes", {}).get("int8", 0) for op in manifest["ops"].values())),
            Text(xnnpack, style="yellow") if partitions not in (None, 1) else xnnpack,
            _digits(worst["cosine_similarity"]) if worst else "-",
            _digits(worst["max_abs_error"], 3) if worst else "-",
            f"{min(top1):.1%}" if top1 else "-",
            "cached" if variant.cached else "converted",
        )
        fidelity = manifest.get("fidelity")
        if fidelity and fidelity["inputs"] not in seen:
            seen.append(fidelity["inputs"])
        if len(outputs) > 1:
            per_output = ", ".join(f"{o['name']} {_digits(o['cosine_similarity'])}" for o in outputs)
            seen.append(f"{variant.mode} per output: {per_output}")
    table.caption = "; ".join(["fidelity against float32 on " + seen[0], *seen[1:]] if seen else [])
    return table


def inspect_tables(report: ModelReport, with_tensors: bool) -> list[Table]:
    description = report.description
    ops = DataTable(title=f"{report.path}: {size_text(description.size_bytes)}")
    for column in ("op", "count", "hybrid", "weights"):
        ops.add_column(column, justify="left" if column in ("op", "weights") else "right")
    for name, summary in description.ops.items():
        weights = ", ".join(f"{dtype} x{n}" for dtype, n in summary.weight_dtypes.items()) or "-"
        ops.add_row(name, str(summary.count), str(summary.hybrid) if summary.hybrid else "-", weights)
    io = DataTable(title="interface and weights")
    for column in ("", "name", "shape", "dtype"):
        io.add_column(column)
    for kind, tensors in (("input", description.inputs), ("output", description.outputs)):
        for tensor in tensors:
            io.add_row(kind, tensor.name, str(tensor.shape), tensor.dtype)
    for dtype, size in description.weight_bytes.items():
        io.add_row("weights", dtype, size_text(size), "")
    delegation = DataTable(title=f"XNNPACK delegation, measured with {report.runtime}")
    for column in ("partitions", "delegated nodes", "total nodes", "left to builtin kernels"):
        delegation.add_column(column, justify="right")
    if report.delegation:
        d = report.delegation
        fallback = ", ".join(f"{k} x{v}" for k, v in d["fallback_ops"].items()) or "none"
        delegation.add_row(str(d["partitions"]), str(d["delegated_nodes"]), str(d["total_nodes"]), fallback)
    tables = [ops, io, delegation]
    if with_tensors:
        tensors = DataTable(title="tensors")
        for column in ("name", "shape", "dtype", "bytes", "scale", "zero point", "axis"):
            tensors.add_column(column)
        for t in description.tensors:
            scale = _summarise(t.scale)
            tensors.add_row(
                t.name,
                str(t.shape),
                t.dtype,
                str(t.bytes or "-"),
                scale,
                _summarise(t.zero_point),
                "-" if t.quantized_dimension is None else str(t.quantized_dimension),
            )
        tables.append(tensors)
    return tables


def _summarise(values: list[Any] | None) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return _fmt(values[0], 5)
    return f"{len(values)} values, {_fmt(min(values), 3)}..{_fmt(max(values), 3)}"


def comparison_table(comparison: Comparison) -> Table:
    table = DataTable(
        title=f"{comparison.candidate} vs {comparison.reference}\n{comparison.samples} inputs: {comparison.inputs}"
    )
    for column in ("output", "max |err|", "mean |err|", "cosine", "top-1 agreement"):
        table.add_column(column, justify="left" if column == "output" else "right")
    for output in comparison.outputs:
        top1 = "-" if output.top1_agreement is None else f"{output.top1_agreement:.1%}"
        table.add_row(
            output.name,
            _fmt(output.max_abs_error),
            _fmt(output.mean_abs_error),
            f"{output.cosine_similarity:.6f}",
            top1,
        )
    return table


def devices_table(devices: dict[str, Any]) -> Table:
    table = DataTable(title="devices")
    for column in ("name", "where", "python", "threads", "tags"):
        table.add_column(column)
    for device in devices.values():
        where = "this machine" if device.is_local else f"{device.user + '@' if device.user else ''}{device.host}"
        table.add_row(
            device.name, where, device.python or "python3", ",".join(map(str, device.threads)), ",".join(device.tags)
        )
    return table


def check_table(check: Any) -> Table:
    """The hello facts of one device, and whether its runtime is ready."""
    facts = check.facts
    table = DataTable(title=f"{check.device}: {'ready' if check.ready else 'NOT ready'}")
    table.add_column("fact")
    table.add_column("value")
    runtime = facts.get("runtime") or {}
    thermal = facts.get("thermal") or {}
    rows = {
        "host": facts.get("hostname"),
        "arch": facts.get("arch"),
        "cpu": f"{facts.get('cpu_model')} x{facts.get('cores')}",
        "cpu features": ", ".join(facts.get("cpu_features") or []) or "-",
        "int8 kernels": check.int8_kernels["summary"],
        "memory": f"{facts['memory_mb']:.0f} MB" if facts.get("memory_mb") else "-",
        "os": f"{facts.get('os')} (kernel {facts.get('kernel')}, {facts.get('libc')})",
        "python": f"{facts.get('python')} ({facts.get('python_executable')})",
        "numpy": facts.get("numpy") or "missing",
        "runtime": _runtime_cell(runtime, check.probe),
        "governor": f"{thermal.get('governor') or '-'} @ {thermal['cpu_mhz']:.0f} MHz"
        if thermal.get("cpu_mhz")
        else thermal.get("governor"),
        "temperature": f"{thermal['temperature_c']:.1f} C" if thermal.get("temperature_c") is not None else "-",
        "throttled": ", ".join(thermal.get("throttled_now") or []) or "no",
        "emulated": facts.get("emulated") or "no",
        **_reached_rows(check.target),
    }
    for key, value in rows.items():
        table.add_row(key, "-" if value is None else str(value))
    return table


def _reached_rows(target: dict[str, Any] | None) -> dict[str, str]:
    """How an SSH board was reached, and who resolved its ssh_config (ssh -G, or paramiko where ssh is missing)."""
    if not target:
        return {}
    hops = [hop["address"] for hop in target["jumps"]]
    via = f" via {' > '.join(hops)}" if hops else ""
    proxy = target["proxy_command"] or next((hop["proxy_command"] for hop in target["jumps"][:1]), None)
    via += f" (ProxyCommand {proxy})" if proxy else ""
    accepted = next((tried["key"] for tried in target.get("keys_tried", []) if tried["result"] == "accepted"), "-")
    return {
        "reached as": f"{target['user']}@{target['host']}:{target['port']}{via}",
        "ssh settings": f"{target['resolver']} for {target['alias']!r}; inventory over ssh_config over defaults",
        "key": accepted,
    }


def _runtime_cell(runtime: dict[str, Any], probe: dict[str, Any] | None) -> str | Text:
    if not runtime:
        return Text("none", style="red")
    if probe is None:
        return Text(f"{runtime['name']} {runtime['version']} ").append("(does not load or run)", style="red")
    loaded = probe["runtime"]
    return (
        f"{loaded['name']} {loaded['version']}: loaded in {probe['runtime_load_ms']:.0f} ms, "
        f"ran a probe model in {probe['probe_ms']:.1f} ms"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def eval_tables(report: Any) -> list[Table]:
    """Accuracy side by side, then the candidate's confusion matrix and per-class precision/recall."""
    models = [report.candidate, *([report.reference] if report.reference else [])]
    summary = DataTable(title=f"edgedq eval on {report.device}: {report.data}")
    for column in ("model", "samples", "top-1", "top-5", "seconds"):
        summary.add_column(column, justify="left" if column == "model" else "right")
    for accuracy in models:
        summary.add_row(
            accuracy.model.rsplit("/", 1)[-1],
            str(accuracy.count),
            _pct(accuracy.top1),
            _pct(accuracy.top5),
            f"{accuracy.seconds:.1f}",
        )
    if report.reference:
        summary.caption = (
            f"agreement of top-1 with the reference: {_pct(report.agreement)}; "
            f"accuracy difference: {report.accuracy_delta:+.2f} points"
        )
    candidate = report.candidate
    names = candidate.classes
    confusion = DataTable(title="confusion (rows: true, columns: predicted)")
    confusion.add_column("")
    for name in names:
        confusion.add_column(name[:8], justify="right")
    for name, row in zip(names, candidate.confusion, strict=True):
        confusion.add_row(name[:12], *[str(v) if v else "." for v in row])
    per_class = DataTable(title="per class")
    for column in ("class", "precision", "recall", "samples"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for name, precision, recall, row in zip(
        names, candidate.precision, candidate.recall, candidate.confusion, strict=True
    ):
        per_class.add_row(name, _pct(precision), _pct(recall), str(sum(row)))
    return [summary, confusion, per_class]


def demo_table(report: Any) -> Table:
    """Accuracy and latency of each variant, measured on the device, float32 first."""
    title = Text(f"edgedq demo {report.demo} on {report.device}")
    if report.emulated:
        title.append(f" (emulated: {report.emulated}; latency is meaningless)", style="yellow")
    table = DataTable(title=title)
    for column in ("variant", "size", "accuracy", "vs float32", "agreement", "p50 ms", "p90 ms", "speedup"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    base = report.variants[0]
    for v in report.variants:
        p50 = v.latency_ms.get("p50")
        table.add_row(
            v.mode,
            size_text(v.size_bytes),
            _pct(v.accuracy),
            f"{100 * (v.accuracy - base.accuracy):+.2f} pts",
            _pct(v.agreement_with_float32) if v.agreement_with_float32 is not None else "-",
            f"{p50:.3f}" if p50 else "-",
            f"{v.latency_ms['p90']:.3f}" if p50 else "-",
            f"{base.latency_ms['p50'] / p50:.2f}x" if p50 and base.latency_ms.get("p50") else "-",
        )
    return table
