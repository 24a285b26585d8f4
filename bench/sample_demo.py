"""`make demo` (until the vision/speech demos land): convert a sample model, inspect it, bench it on `local`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench.models import ds_cnn  # noqa: E402

WORK = Path(os.environ.get("EDGEDQ_DEMO_DIR", Path.home() / ".cache" / "edgedq" / "demo"))


def edgedq(*args: str) -> None:
    print(f"\n$ edgedq {' '.join(args)}", flush=True)
    subprocess.run([str(Path(sys.executable).with_name("edgedq")), *args], check=True)


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    source = ds_cnn(WORK / "ds_cnn.keras")
    out = WORK / "ds_cnn.tflite"
    edgedq("convert", str(source), "-o", str(out), "--mode", "float32", "--mode", "dynamic", "--mode", "float16")
    edgedq("inspect", str(WORK / "ds_cnn.dynamic.tflite"))
    edgedq(
        "bench",
        *(str(WORK / f"ds_cnn.{m}.tflite") for m in ("float32", "dynamic", "float16")),
        "--threads",
        "1,2",
        "--runs",
        "200",
    )
    print(
        "\nOn a board: edgedq devices add pi4 --host ADDRESS --user pi; edgedq devices setup pi4 --save;\n"
        f"then edgedq deploy --device pi4 {WORK / 'ds_cnn.keras'}"
    )


if __name__ == "__main__":
    main()
