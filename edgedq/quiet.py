"""Keep TensorFlow's native log noise out of the user's terminal (but available with -v)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator


def prepare_tensorflow_logging(verbose: bool) -> None:
    """Must run before TensorFlow is imported to take effect."""
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")


class CapturedOutput:
    def __init__(self) -> None:
        self.text = ""


@contextlib.contextmanager
def capture_native_output(enabled: bool = True) -> Iterator[CapturedOutput]:
    """Redirect file descriptors 1 and 2 (C++ and Python alike) to a temporary file."""
    captured = CapturedOutput()
    if not enabled:
        yield captured
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    python_level = io.StringIO()  # sys.stdout may not be fd 1 (under Click's CliRunner, say)
    with (
        tempfile.TemporaryFile(mode="w+b") as sink,
        contextlib.redirect_stdout(python_level),
        contextlib.redirect_stderr(python_level),
    ):
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            sink.seek(0)
            captured.text = python_level.getvalue() + sink.read().decode(errors="replace")
