"""Finding the board's TFLite runtime and building interpreters with it.

Known-bad combinations become an ``AgentFailure`` with a code the host
understands and a remedy, instead of a traceback from deep inside a wheel.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import time
from typing import Any, Mapping, NamedTuple, Optional, Sequence, Union

RUNTIME_ORDER = ("ai_edge_litert", "tflite_runtime", "tensorflow")
_INTERPRETER_MODULES = {
    "ai_edge_litert": "ai_edge_litert.interpreter",
    "tflite_runtime": "tflite_runtime.interpreter",
    "tensorflow": "tensorflow.lite.python.interpreter",
}
_DISTRIBUTIONS = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime", "tensorflow": "tensorflow"}
_NUMPY_HINT = "pip install 'numpy<2' beside tflite-runtime, or install ai-edge-litert instead"
_INSTALL_HINT = "install a runtime on the board: pip install numpy ai-edge-litert (or run 'edgedq devices setup')"


class AgentFailure(Exception):
    """A failure the host can explain: a stable code, a message and what to do."""

    def __init__(self, code: str, message: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class Runtime(NamedTuple):
    name: str
    version: str
    module: Any  # the module that holds Interpreter and OpResolverType
    load_ms: float  # importing it: the native library is loaded here, once per agent process

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version}


def _distribution_version(name: str) -> str:
    """The package's own ``__version__``; importlib.metadata (about 4 MB of RSS) only as a fallback.

    ai_edge_litert and tflite_runtime keep ``__version__`` in a light ``__init__`` that does not load
    the native interpreter; tensorflow's ``__init__`` is heavy, so it is never imported for this.
    """
    version = getattr(sys.modules.get(name), "__version__", None)
    if version is None and name != "tensorflow":
        try:
            version = getattr(importlib.import_module(name), "__version__", None)
        except Exception:
            version = None
    if version:
        return str(version)
    try:
        from importlib import metadata

        return metadata.version(_DISTRIBUTIONS[name])
    except Exception:
        return "unknown"


def _candidates(preferred: Optional[str]) -> tuple:
    if preferred and preferred not in _INTERPRETER_MODULES:
        raise AgentFailure("unknown_runtime", "unknown runtime %r; known: %s" % (preferred, ", ".join(RUNTIME_ORDER)))
    return (preferred,) if preferred else RUNTIME_ORDER


def locate_runtime(preferred: Optional[str] = None) -> dict:
    """The runtime ``find_runtime`` would pick, named without loading its native library (hello stays light).

    An install that is present but broken (a wheel for another glibc, say) shows up when it is
    loaded, by the first request or by ``probe``, as a structured error.
    """
    names = _candidates(preferred)
    if importlib.util.find_spec("numpy") is None:
        raise AgentFailure("runtime_missing", "numpy is not installed (every TFLite runtime needs it)", _INSTALL_HINT)
    problems = []
    for name in names:
        if importlib.util.find_spec(name) is None:
            continue
        mismatch = _numpy_mismatch(name)
        if mismatch:
            problems.append(mismatch)
            continue
        return {"name": name, "version": _distribution_version(name)}
    if problems:
        raise AgentFailure("runtime_numpy_mismatch", "; ".join(problems), _NUMPY_HINT)
    detail = "none of %s is installed" % ", ".join(names)
    raise AgentFailure("runtime_missing", "no usable TFLite runtime: " + detail, _INSTALL_HINT)


def find_runtime(preferred: Optional[str] = None) -> Runtime:
    """The first usable runtime in ``RUNTIME_ORDER`` (or the one asked for), loaded, skipping known-bad installs."""
    names = _candidates(preferred)
    problems = []
    numpy_mismatch = False
    for name in names:
        started = time.perf_counter()
        try:
            module = importlib.import_module(_INTERPRETER_MODULES[name])
        except ImportError as exc:
            if "No module named" not in str(exc):
                problems.append("%s: %s" % (name, exc))
            continue
        except Exception as exc:  # a wheel built against another numpy fails with odd errors
            problems.append("%s: %s" % (name, exc))
            continue
        mismatch = _numpy_mismatch(name)
        if mismatch:  # imports fine, then fails when an interpreter is built: skip it, say why
            problems.append(mismatch)
            numpy_mismatch = True
            continue
        return Runtime(name, _distribution_version(name), module, (time.perf_counter() - started) * 1e3)
    if numpy_mismatch:
        raise AgentFailure("runtime_numpy_mismatch", "; ".join(problems), _NUMPY_HINT)
    detail = "; ".join(problems) if problems else "none of %s is installed" % ", ".join(names)
    raise AgentFailure("runtime_missing", "no usable TFLite runtime: " + detail, _INSTALL_HINT)


def _numpy_mismatch(runtime_name: str) -> Optional[str]:
    """tflite-runtime (2.14 is the last release) is built against numpy 1.x and cannot run with numpy 2."""
    if runtime_name != "tflite_runtime":
        return None
    import numpy

    if int(numpy.__version__.split(".")[0]) >= 2:
        return "tflite-runtime %s was built for numpy 1.x but numpy %s is installed" % (
            _distribution_version(runtime_name),
            numpy.__version__,
        )
    return None


def load_interpreter(
    runtime: Runtime, model: Union[str, bytes], threads: int, xnnpack: bool, preserve_all_tensors: bool = False
) -> Any:
    """An interpreter for a path or the model's bytes, not yet allocated; XNNPACK off means no default delegates.

    ``preserve_all_tensors`` keeps every intermediate tensor readable after ``invoke`` (builtin kernels only:
    a delegate computes its partition's tensors out of the interpreter's sight), for per-layer error on a host.
    """
    module = runtime.module
    source = "model_content" if isinstance(model, bytes) else "model_path"
    kwargs = {source: model, "num_threads": threads}
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if preserve_all_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
    try:
        return module.Interpreter(**kwargs)
    except Exception as exc:
        raise classify_load_error(runtime, exc) from exc


def allocate(runtime: Runtime, interpreter: Any, shapes: Optional[Mapping[str, Sequence[int]]] = None) -> Any:
    """Resize inputs (by tensor name) to ``shapes``, then allocate: the shapes are fixed before XNNPACK plans."""
    try:
        by_name = {d["name"]: d["index"] for d in interpreter.get_input_details()}
        for name, dims in (shapes or {}).items():
            interpreter.resize_tensor_input(by_name[name], list(dims), strict=False)
        interpreter.allocate_tensors()
    except Exception as exc:
        raise classify_load_error(runtime, exc) from exc
    return interpreter


def make_interpreter(
    runtime: Runtime,
    model: Union[str, bytes],
    threads: int,
    xnnpack: bool,
    shapes: Optional[Mapping[str, Sequence[int]]] = None,
) -> Any:
    """Build and allocate an interpreter (inputs resized to ``shapes``, keyed by tensor name, first)."""
    return allocate(runtime, load_interpreter(runtime, model, threads, xnnpack), shapes)


def classify_load_error(runtime: Runtime, exc: BaseException) -> AgentFailure:
    text = str(exc)
    match = re.search(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'", text)
    if match:
        return AgentFailure(
            "op_version_unsupported",
            "%s %s cannot run %s version %s (the model needs a newer runtime)"
            % (runtime.name, runtime.version, match.group(1), match.group(2)),
            "install ai-edge-litert on the board (pip install ai-edge-litert)",
        )
    match = re.search(r"unresolved custom op: (\w+)", text) or re.search(r"custom op[^:]*: (\w+)", text)
    if match:
        return AgentFailure(
            "custom_op_missing",
            "the model uses custom op %s, which %s does not provide" % (match.group(1), runtime.name),
            "convert without custom ops, or build a runtime that registers %s" % match.group(1),
        )
    if "Could not open" in text or "No such file" in text:
        return AgentFailure("model_missing", "model file not found: " + text.strip().splitlines()[0])
    if "Model provided has model identifier" in text or "not a valid" in text.lower() or "flatbuffer" in text.lower():
        return AgentFailure("model_invalid", "not a valid TFLite model: " + text.strip().splitlines()[0])
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    hint = None
    if "reshape" in text.lower() or "prepare" in text.lower():
        hint = "an input with open dimensions may need its real shape: --input-shape NAME:D0,D1,..."
    return AgentFailure("model_load_failed", "%s could not load the model: %s" % (runtime.name, first), hint)
