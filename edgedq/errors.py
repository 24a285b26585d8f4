"""Errors a user can act on, each with its documented exit code and a remedy.

The CLI turns any of these into one line on stderr (plus the hint) and the
exit code; nothing else should reach the user as a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``edgedq`` command (the README's table mirrors this)."""

    OK = 0
    INTERNAL = 1  # a bug in edgedq: please report it
    USAGE = 2  # bad flags or arguments (Click's own code)
    BAD_INPUT = 3  # missing path, not a model, corrupt file, mismatching data
    CONVERSION = 4  # TensorFlow could not convert the model (unsupported ops ...)
    OUTPUT = 5  # the output cannot be written (missing or read-only folder, host disk full)
    RUNS_FAILED = 6  # some benchmark/eval configurations failed; the others were reported
    DEVICE = 7  # unknown device or an invalid inventory
    CONNECTION = 8  # DNS failure, refused, timed out, authentication failed, connection lost
    HOST_KEY = 9  # unknown or changed host key
    RUNTIME = 10  # no usable Python / TFLite runtime on the device
    DEVICE_STORAGE = 11  # the device's work folder is full or not writable
    AGENT = 12  # the agent crashed, hung or spoke another protocol
    REGRESSION = 13  # edgedq diff: a gate tripped (slower or less accurate than the baseline)


class EdgedqError(Exception):
    """Base class: a message for the user, an optional remedy, an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code  # the agent's machine-readable reason, when the error came from a device

    @staticmethod
    def from_dict(data: dict[str, object]) -> EdgedqError:
        """Rebuild an error that was stored in a result (``as_dict``), with its class and so its exit code."""
        cls = next((c for c in _all_subclasses(EdgedqError) if c.__name__ == data.get("error")), EdgedqError)
        return cls(str(data.get("message")), data.get("hint"), data.get("code"))  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return {
            "error": type(self).__name__,
            "message": self.message,
            "hint": self.hint,
            "code": self.code,
            "exit_code": int(self.exit_code),
        }


class BadInput(EdgedqError):
    exit_code = ExitCode.BAD_INPUT


class ConversionFailed(EdgedqError):
    exit_code = ExitCode.CONVERSION


class OutputError(EdgedqError):
    exit_code = ExitCode.OUTPUT


class RunsFailed(EdgedqError):
    exit_code = ExitCode.RUNS_FAILED


class DeviceError(EdgedqError):
    exit_code = ExitCode.DEVICE


class ConnectionFailed(EdgedqError):
    exit_code = ExitCode.CONNECTION


class HostKeyError(EdgedqError):
    exit_code = ExitCode.HOST_KEY


class RuntimeMissing(EdgedqError):
    exit_code = ExitCode.RUNTIME


class DeviceStorageError(EdgedqError):
    exit_code = ExitCode.DEVICE_STORAGE


class AgentError(EdgedqError):
    exit_code = ExitCode.AGENT


class Outcome:
    """A report that may hold failures: ``failure()`` says which error (and exit code) they amount to."""

    def failure(self) -> EdgedqError | None:
        raise NotImplementedError

    def raise_for_failures(self) -> None:
        """Raise the failure, if any (like ``requests``' ``raise_for_status``)."""
        failure = self.failure()
        if failure is not None:
            raise failure


def _all_subclasses(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *_all_subclasses(direct))]
