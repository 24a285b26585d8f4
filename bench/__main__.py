"""`make bench`: conversion variants, then the agent against the official benchmark."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgedq_agent.system import cpu_features, cpu_model  # noqa: E402
from rich.console import Console  # noqa: E402

from bench import (  # noqa: E402
    agent_bench,
    convert_bench,
    live_bench,
    models,
    profile_bench,
    soak,
    tune_bench,
    upload_bench,
)

WORK = Path(os.environ.get("EDGEDQ_BENCH_DIR", Path.home() / ".cache" / "edgedq" / "bench"))


def main() -> None:
    console = Console(width=200)
    WORK.mkdir(parents=True, exist_ok=True)
    console.print(f"CPU: {cpu_model()}, int8/fp features: {', '.join(cpu_features()) or 'none'}")
    sources = {
        "mobilenet_v2": models.mobilenet_v2(WORK / "mobilenet_v2.keras"),
        "ds_cnn": models.ds_cnn(WORK / "ds_cnn.keras"),
        "mobilenet_v3_small": models.mobilenet_v3_small(WORK / "mobilenet_v3_small.keras"),
        "efficientnet_b0": models.efficientnet_b0(WORK / "efficientnet_b0.keras"),
    }
    images = models.in_range_images(WORK / "images_0_255.npz")  # the keras.applications models take 0-255
    variants = {}
    for label, source in sources.items():
        data = images if label in ("mobilenet_v3_small", "efficientnet_b0") else None
        table, figures = convert_bench.bench_model(label, source, WORK, data)
        console.print(table)
        variants[label] = figures
    m = variants["mobilenet_v2"]
    checks = [
        (
            "dynamic MobileNetV2 size <= 0.30x float32",
            m["dynamic.size_ratio"] <= 0.30,
            f"{m['dynamic.size_ratio']:.3f}x",
        ),
        ("dynamic MobileNetV2 is one XNNPACK partition", m["dynamic.partitions"] == 1, str(m["dynamic.partitions"])),
        (
            "dynamic MobileNetV2 >= 1.4x faster than float32 at 1 thread",
            m["dynamic.speedup_1t"] >= 1.4,
            f"{m['dynamic.speedup_1t']:.2f}x",
        ),
        ("dynamic MobileNetV2 cosine >= 0.99", m["dynamic.cosine"] >= 0.99, f"{m['dynamic.cosine']:.4f}"),
    ]
    for label in ("mobilenet_v3_small", "efficientnet_b0"):
        partitions = variants[label]["dynamic.partitions"]
        checks.append((f"dynamic {label} is one XNNPACK partition", partitions == 1, str(partitions)))
    for text, ok, value in checks:
        console.print(f"{'[green]met[/]' if ok else '[red]NOT met[/]'}  {text}: {value}")
    if not {"asimddp", "avx512_vnni", "avx_vnni"} & set(cpu_features()):
        console.print(
            "note: this CPU has no int8 dot-product instructions (ARM asimddp / x86 VNNI); XNNPACK's "
            "int8 kernels then gain little over fp32, so the speedup target needs an ARM board."
        )
    converted = {
        f"{label}.{mode}": WORK / f"{label}.{mode}.tflite" for label in sources for mode in ("float32", "dynamic")
    }
    console.print(agent_bench.versus_official(converted))
    console.print(agent_bench.footprint())
    console.print(
        profile_bench.overhead({f"mobilenet_v2.{m}": converted[f"mobilenet_v2.{m}"] for m in ("float32", "dynamic")})
    )
    console.print(live_bench.live_versus_modes())
    console.print(upload_bench.upload_versus_scp(converted["mobilenet_v2.float32"]))
    console.print(soak.soak([converted["ds_cnn.float32"], converted["ds_cnn.dynamic"]]))
    console.print(tune_bench.tune_vision(WORK))


def soak_only(runs: int) -> None:
    """``python -m bench soak [RUNS]``: the soak alone, on the DS-CNN variants of a previous ``make bench``."""
    variants = [WORK / f"ds_cnn.{mode}.tflite" for mode in ("float32", "dynamic")]
    if not all(v.is_file() for v in variants):
        sys.exit(f"run make bench once first: it converts {', '.join(map(str, variants))}")
    Console(width=200).print(soak.soak(variants, runs=runs))


if __name__ == "__main__":
    if sys.argv[1:2] == ["live"]:  # python -m bench live: the live demos' figures alone
        Console(width=200).print(live_bench.live_versus_modes())
    elif sys.argv[1:2] == ["tune"]:  # python -m bench tune: tune's figures alone
        Console(width=200).print(tune_bench.tune_vision(WORK))
    elif sys.argv[1:2] == ["soak"]:
        soak_only(int(sys.argv[2]) if len(sys.argv) > 2 else 200)
    else:
        main()
