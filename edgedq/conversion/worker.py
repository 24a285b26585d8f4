"""TensorFlow in a child process: a crash inside it (int8 calibration of some recurrent nets segfaults) becomes
one line naming the mode, not the end of edgedq, and nothing half-written is kept.

The parent sends one job (JSON on stdin); the child loads the source once, converts each mode in turn, writes
each model atomically where the job says, and reports on fd 3 (stdout and stderr are TensorFlow's own chatter,
kept as the log).  ``python -m edgedq.conversion.worker`` is the child.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgedq.errors import ConversionFailed, EdgedqError

REPORT_FD = 3


@dataclass
class Job:
    source: str
    kind: str
    sha256: str
    outputs: dict[str, str]  # mode -> where to write it
    batch: int | None = 1
    custom_objects: list[str] = field(default_factory=list)
    calibration: str | None = None  # an .npz, for int8
    verbose: bool = False
    keep_float: str | None = None  # int8: ops to keep in float (--keep-float)


@dataclass
class Outcome:
    output_names: list[str] = field(default_factory=list)
    log: str = ""
    calibration_samples: int = 0


def convert_in_child(job: Job, on_stage: Callable[[str], None]) -> Outcome:
    """Run the job in a fresh Python; raise the first mode's error, or a crash as ConversionFailed."""
    reader, writer = os.pipe()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "edgedq.conversion.worker"],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            pass_fds=(writer,),
            env={**os.environ, "EDGEDQ_REPORT_FD": str(writer)},
        )
        os.close(writer)
        process.stdin.write(json.dumps(job.__dict__).encode())  # type: ignore[union-attr]
        process.stdin.close()  # type: ignore[union-attr]
        outcome, mode, error = Outcome(), "loading the source", None
        with os.fdopen(reader) as reports:
            for line in reports:
                report = json.loads(line)
                if report["event"] == "stage":
                    mode = report.get("mode", mode)
                    on_stage(report["text"])
                elif report["event"] == "done":
                    outcome.output_names = report.get("output_names", outcome.output_names)
                    outcome.calibration_samples = report.get("calibration_samples", outcome.calibration_samples)
                elif report["event"] == "error":
                    error = EdgedqError.from_dict(report["error"])
        status = process.wait()
        log.seek(0)
        outcome.log = log.read().decode(errors="replace")
    if error is not None:
        raise error
    if status != 0:
        for written in job.outputs.values():
            Path(written).unlink(missing_ok=True)
        how = f"crashed ({signal.Signals(-status).name})" if status < 0 else f"exited with status {status}"
        raise ConversionFailed(
            f"TensorFlow {how} while {mode}",
            hint="nothing was written; try --mode dynamic or float16 (no calibration), and run with -v for its log",
        )
    return outcome


def _report(**fields: Any) -> None:
    os.write(int(os.environ["EDGEDQ_REPORT_FD"]), (json.dumps(fields, default=str) + "\n").encode())


def main() -> None:
    job = Job(**json.load(sys.stdin))
    if not job.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgedq_agent import inputs as agent_inputs

    from edgedq import files
    from edgedq.conversion import tf_driver
    from edgedq.conversion.sources import ModelSource, SourceKind

    try:
        _report(event="stage", text="loading TensorFlow and the source model")
        source = ModelSource(Path(job.source), SourceKind(job.kind), job.sha256)
        prepared = tf_driver.prepare(source, job.batch, job.custom_objects)
        for mode, target in job.outputs.items():
            samples = None
            if mode == "int8":
                assert job.calibration is not None
                samples = tf_driver.calibration_samples(prepared, agent_inputs.read_npz(job.calibration))
            _report(event="stage", mode=f"converting {mode}", text=f"converting with TensorFlow ({mode})")
            keep = job.keep_float if mode == "int8" else None
            files.atomic_write_bytes(Path(target), tf_driver.run_converter(prepared.converter, mode, samples, keep))
            _report(event="done", mode=mode, output_names=prepared.output_names,
                    calibration_samples=len(samples) if samples else 0)  # fmt: skip
    except EdgedqError as error:
        _report(event="error", error=error.as_dict())
    except ValueError as error:  # a calibration file that cannot be read
        _report(event="error", error=EdgedqError(str(error)).as_dict() | {"error": "BadInput"})
    except Exception as error:  # TensorFlow or Keras failing in a way nobody named: say what, the log has the rest
        import traceback

        traceback.print_exc()
        failure = ConversionFailed(f"TensorFlow failed: {type(error).__name__}: {error}"[:300], hint="run with -v")
        _report(event="error", error=failure.as_dict())


if __name__ == "__main__":
    main()
