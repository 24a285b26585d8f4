"""``profile``: where one run's time goes, operator by operator, XNNPACK's own operators included.

The Python Interpreter has no profiler hook, but ai-edge-litert's ``libLiteRt.so`` exports the LiteRT C
API, whose CompiledModel carries one; it is driven here with ctypes.  The option identifiers and the byte
layout of the profiler's events are internal details of ai-edge-litert ``PINNED``: any other runtime or
version is refused with ``profiler_unavailable`` rather than read wrongly (tests/test_profile.py keeps
a test on them).  Events come back raw, one list of times per event; the host sums and maps them.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
from edgedq_agent import inputs
from edgedq_agent.bench import PROGRESS_EVERY_S, explicit_shapes, given_inputs, input_shapes
from edgedq_agent.protocol import emit, finite_list
from edgedq_agent.runtime import AgentFailure, Runtime, allocate, load_interpreter

PINNED = "2.3.0"
UNAVAILABLE_HINT = "install ai-edge-litert==%s on the device (edgedq devices setup does)" % PINNED
FAILED_HINT = "edgedq bench measures the model through the Interpreter; try --no-xnnpack to see if XNNPACK is why"
CPU = 1  # kLiteRtHwAcceleratorCpu
RUNTIME_OPTIONS = "runtime_options_string"  # opaque option identifiers of 2.3.0, with TOML payloads
CPU_OPTIONS = "xnnpack"
PROFILING_TOML = "enable_profiling = true\n"
# ProfiledEventData as the C++ runtime copies it out (tflite's MemoryUsage is 3 words, not the C header's 2)
EVENT = np.dtype(
    {
        "names": ["tag", "event_type", "start_us", "elapsed_us", "metadata1", "metadata2", "source"],
        "formats": ["<u8", "<i4", "<u8", "<u8", "<i8", "<i8", "<i4"],
        "offsets": [0, 8, 16, 24, 80, 88, 96],
        "itemsize": 104,
    }
)
EVENT_TYPES = {1 << bit for bit in range(9)}  # LiteRtProfilerEventType
TIMED = (1, 2, 4, 8)  # default (runtime stages), operator, delegate operator, delegate-profiled operator
RANKED_TYPE_BYTES, DIMS_OFFSET, RANK_MASK = 72, 8, 0x7F  # LiteRtRankedTensorType: 4 + LiteRtLayout (68)
ALIGNMENT = 64  # LITERT_HOST_MEMORY_BUFFER_ALIGNMENT
PROFILER_CAPACITY = 10240  # LiteRtProfilerT's default buffer, in events

_P = ctypes.c_void_p
_PP = ctypes.POINTER(_P)
_SIZE = ctypes.c_size_t
_SIGNATURES = {  # name: (argument types, returns a LiteRtStatus)
    "LiteRtCreateEnvironment": ((ctypes.c_int, _P, _PP), True),
    "LiteRtDestroyEnvironment": ((_P,), False),
    "LiteRtCreateModelFromFile": ((_P, ctypes.c_char_p, _PP), True),
    "LiteRtDestroyModel": ((_P,), False),
    "LiteRtCreateOptions": ((_PP,), True),
    "LiteRtDestroyOptions": ((_P,), False),
    "LiteRtSetOptionsHardwareAccelerators": ((_P, ctypes.c_int), True),
    "LiteRtCreateOpaqueOptions": ((ctypes.c_char_p, _P, _P, _PP), True),
    "LiteRtAddOpaqueOptions": ((_P, _P), True),
    "LiteRtCreateCompiledModel": ((_P, _P, _P, _PP), True),
    "LiteRtDestroyCompiledModel": ((_P,), False),
    "LiteRtGetModelSignature": ((_P, _SIZE, _PP), True),
    "LiteRtGetNumSignatureInputs": ((_P, ctypes.POINTER(_SIZE)), True),
    "LiteRtGetNumSignatureOutputs": ((_P, ctypes.POINTER(_SIZE)), True),
    "LiteRtGetSignatureInputTensorByIndex": ((_P, _SIZE, _PP), True),
    "LiteRtGetSignatureOutputTensorByIndex": ((_P, _SIZE, _PP), True),
    "LiteRtGetTensorName": ((_P, ctypes.POINTER(ctypes.c_char_p)), True),
    "LiteRtGetRankedTensorType": ((_P, _P), True),
    "LiteRtCompiledModelResizeInputTensor": ((_P, _SIZE, _SIZE, _P, _SIZE), True),
    "LiteRtCreateTensorBufferFromHostMemory": ((_P, _P, _SIZE, _P, _PP), True),
    "LiteRtDestroyTensorBuffer": ((_P,), False),
    "LiteRtRunCompiledModel": ((_P, _SIZE, _SIZE, _P, _SIZE, _P), True),
    "LiteRtCompiledModelGetProfiler": ((_P, _PP), True),
    "LiteRtStartProfiler": ((_P,), True),
    "LiteRtStopProfiler": ((_P,), True),
    "LiteRtResetProfiler": ((_P,), True),
    "LiteRtGetNumProfilerEvents": ((_P, ctypes.POINTER(ctypes.c_int)), True),
    "LiteRtGetProfilerEvents": ((_P, ctypes.c_int, _P), True),
}


def unavailable(message: str) -> AgentFailure:
    return AgentFailure("profiler_unavailable", message, UNAVAILABLE_HINT)


class LiteRt:
    """The C API of the runtime's own ``libLiteRt.so``; a failing call raises with the function's name."""

    def __init__(self, runtime: Runtime) -> None:
        if runtime.name != "ai_edge_litert":
            raise unavailable(
                "per-operator profiles need ai-edge-litert's LiteRT C API; this device runs %s %s, whose "
                "Python interpreter has no profiler" % (runtime.name, runtime.version)
            )
        if runtime.version != PINNED:
            raise unavailable(
                "edgedq reads the profiler of ai-edge-litert %s (its event layout is internal); this device has %s"
                % (PINNED, runtime.version)
            )
        path = os.path.join(os.path.dirname(runtime.module.__file__), "libLiteRt.so")
        try:
            self.lib = ctypes.CDLL(path)
        except OSError as exc:
            raise unavailable("ai-edge-litert's libLiteRt.so does not load: %s" % exc) from None
        missing = [name for name in _SIGNATURES if not hasattr(self.lib, name)]
        if missing:
            raise unavailable("libLiteRt.so lacks %s" % ", ".join(missing))
        for name, (arguments, status) in _SIGNATURES.items():
            function = getattr(self.lib, name)
            function.argtypes, function.restype = arguments, (ctypes.c_int if status else None)
        self.libc = ctypes.CDLL(None)
        self.libc.strdup.restype, self.libc.strdup.argtypes = _P, [ctypes.c_char_p]

    def __call__(self, name: str, *arguments: Any) -> None:
        status = getattr(self.lib, name)(*arguments)
        if status:
            raise AgentFailure("profile_failed", "LiteRT's %s failed (status %d)" % (name, status), FAILED_HINT)

    def new(self, name: str, *arguments: Any) -> _P:
        """Call a ``Create``/``Get`` function whose last argument receives a handle; return the handle."""
        handle = _P()
        self(name, *arguments, ctypes.byref(handle))
        return handle

    def opaque_option(self, options: _P, identifier: str, toml: str) -> None:
        """A TOML payload under an identifier, as LiteRT's own option helpers build them (the runtime frees it)."""
        payload = self.libc.strdup(toml.encode())
        free = ctypes.cast(self.libc.free, _P)
        try:
            opaque = self.new("LiteRtCreateOpaqueOptions", identifier.encode(), payload, free)
        except AgentFailure:
            self.libc.free(ctypes.c_void_p(payload))
            raise
        self("LiteRtAddOpaqueOptions", options, opaque)


def _text(address: int) -> str:
    return ctypes.string_at(address).decode(errors="replace") if address else ""


def _aligned(dtype: np.dtype, shape: List[int]) -> np.ndarray:
    """A zeroed array whose data starts on a 64-byte boundary, as LiteRT's host-memory buffers require."""
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.zeros(size + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start : start + size].view(dtype).reshape(shape)


class Compiled:
    """A CompiledModel of the model on the CPU, its tensors bound to numpy arrays; ``profiled``: with a profiler."""

    def __init__(self, api: LiteRt, environment: _P, path: str, threads: int, xnnpack: bool, profiled: bool) -> None:
        self.api, self.buffers, self.arrays = api, [], {}
        self.model = api.new("LiteRtCreateModelFromFile", environment, path.encode())
        self.options = api.new("LiteRtCreateOptions")
        api("LiteRtSetOptionsHardwareAccelerators", self.options, CPU)
        api.opaque_option(
            self.options,
            CPU_OPTIONS,
            "num_threads = %d\n%s" % (threads, "" if xnnpack else 'kernel_mode = "builtin"\n'),
        )
        if profiled:
            api.opaque_option(self.options, RUNTIME_OPTIONS, PROFILING_TOML)
        self.handle = api.new("LiteRtCreateCompiledModel", environment, self.model, self.options)
        self.signature = api.new("LiteRtGetModelSignature", self.model, _SIZE(0))
        self.profiler = api.new("LiteRtCompiledModelGetProfiler", self.handle) if profiled else None
        if profiled and not self.profiler:
            raise unavailable("the runtime compiled the model without a profiler")

    def _tensors(self, kind: str) -> List[Tuple[_P, str]]:
        count = _SIZE()
        self.api("LiteRtGetNumSignature%ss" % kind, self.signature, ctypes.byref(count))
        found = []
        for index in range(count.value):
            tensor = self.api.new("LiteRtGetSignature%sTensorByIndex" % kind, self.signature, _SIZE(index))
            name = ctypes.c_char_p()
            self.api("LiteRtGetTensorName", tensor, ctypes.byref(name))
            found.append((tensor, (name.value or b"").decode()))
        return found

    def bind(self, feeds: Mapping[str, np.ndarray], outputs: Mapping[str, Tuple[np.dtype, List[int]]]) -> None:
        """Inputs (resized where the model leaves a dimension open) and outputs, by tensor name, as host buffers."""
        bound = {}
        for kind, wanted in (("Input", {n: (a.dtype, list(a.shape)) for n, a in feeds.items()}), ("Output", outputs)):
            handles = []
            for index, (tensor, name) in enumerate(self._tensors(kind)):
                if name not in wanted:
                    message = "the compiled model's %s %r is not among the interpreter's" % (kind.lower(), name)
                    raise AgentFailure("profile_failed", message, FAILED_HINT)
                dtype, shape = wanted[name]
                ranked = (ctypes.c_uint8 * RANKED_TYPE_BYTES)()
                self.api("LiteRtGetRankedTensorType", tensor, ranked)
                dims = np.frombuffer(ranked, np.int32, count=8, offset=DIMS_OFFSET)
                rank = ctypes.c_uint32.from_buffer(ranked, 4).value & RANK_MASK
                if kind == "Input" and list(dims[:rank]) != shape:
                    dimensions = (ctypes.c_int * len(shape))(*shape)
                    self.api("LiteRtCompiledModelResizeInputTensor", self.handle, 0, index, dimensions, len(shape))
                np.frombuffer(ranked, np.int32, count=len(shape), offset=DIMS_OFFSET)[:] = shape
                array = _aligned(np.dtype(dtype), shape)
                if kind == "Input":
                    array[...] = feeds[name]
                self.arrays[name] = array
                buffer = self.api.new(
                    "LiteRtCreateTensorBufferFromHostMemory", ranked, array.ctypes.data, array.nbytes, None
                )
                self.buffers.append(buffer)
                handles.append(buffer)
            bound[kind] = (len(handles), (_P * len(handles))(*handles))
        self.run_arguments = (self.handle, 0, *bound["Input"], *bound["Output"])

    def run(self) -> None:
        self.api("LiteRtRunCompiledModel", *self.run_arguments)

    def events(self) -> List[Tuple[int, str, int, int, int, int]]:
        """The profiler's timed events since its last reset: (type, tag, metadata1, metadata2, source, elapsed µs)."""
        count = ctypes.c_int()
        self.api("LiteRtGetNumProfilerEvents", self.profiler, ctypes.byref(count))
        if count.value <= 0:
            return []
        if count.value >= PROFILER_CAPACITY:  # a ring buffer: the run's first events were overwritten
            message = "one run made %d profiler events or more: the runtime's buffer overflowed" % PROFILER_CAPACITY
            raise AgentFailure("profile_failed", message, "edgedq bench still times this model as a whole")
        raw = (ctypes.c_char * (count.value * EVENT.itemsize))()
        self.api("LiteRtGetProfilerEvents", self.profiler, count.value, raw)
        records = np.frombuffer(raw, EVENT)
        if not set(records["event_type"].tolist()) <= EVENT_TYPES or records["source"].max() > 2:
            raise unavailable("the profiler's events do not have ai-edge-litert %s's layout" % PINNED)
        timed = records[np.isin(records["event_type"], TIMED)]
        fields = timed[["event_type", "tag", "metadata1", "metadata2", "source", "elapsed_us"]].tolist()
        tags = {address: _text(address) for address in set(timed["tag"].tolist())}  # alive while the profiler is
        return [(kind, tags[tag], *rest) for kind, tag, *rest in fields]

    def close(self) -> None:
        for buffer in self.buffers:
            self.api.lib.LiteRtDestroyTensorBuffer(buffer)
        for name, handle in (("CompiledModel", self.handle), ("Options", self.options), ("Model", self.model)):
            getattr(self.api.lib, "LiteRtDestroy" + name)(handle)


class EventTable:
    """Each run's events keyed by what they are and their occurrence in the run; one list of times per event."""

    def __init__(self) -> None:
        self.rows: Dict[tuple, Dict[str, Any]] = {}

    def add(self, events: List[Tuple[int, str, int, int, int, int]]) -> None:
        seen: Dict[tuple, int] = {}
        for event_type, tag, metadata1, metadata2, source, elapsed in events:
            key = (event_type, tag, metadata1, metadata2, source)
            occurrence = seen[key] = seen.get(key, -1) + 1
            row = self.rows.get((key, occurrence))
            if row is None:
                fields = ("event_type", "tag", "metadata1", "metadata2", "source")
                row = self.rows[(key, occurrence)] = dict(zip(fields, key), elapsed_us=[])
            row["elapsed_us"].append(elapsed)

    def as_list(self) -> List[Dict[str, Any]]:
        return list(self.rows.values())


def _timed(compiled: Compiled) -> float:
    """One run, timed around the C call alone; its status is checked after the clock stopped."""
    run, arguments, clock = compiled.api.lib.LiteRtRunCompiledModel, compiled.run_arguments, time.perf_counter
    start = clock()
    status = run(*arguments)
    elapsed = (clock() - start) * 1e3
    if status:
        raise AgentFailure("profile_failed", "LiteRT's LiteRtRunCompiledModel failed (status %d)" % status, FAILED_HINT)
    return elapsed


def _profiled(compiled: Compiled, table: EventTable) -> float:
    """One run with the profiler recording; its events are read after the clock stopped."""
    api, profiler = compiled.api, compiled.profiler
    api("LiteRtResetProfiler", profiler)
    api("LiteRtStartProfiler", profiler)
    elapsed = _timed(compiled)
    api("LiteRtStopProfiler", profiler)
    events = compiled.events()
    if not events:
        raise unavailable("the profiler recorded nothing")
    table.add(events)
    return elapsed


def _counted(compiled: Compiled, baseline: Optional[Compiled], request: Mapping[str, Any], table: EventTable):
    """At least ``runs`` runs and ``min_secs`` seconds, at most ``max_secs``; with a baseline, one of its runs beside
    each, which goes first alternating."""
    runs, min_secs = int(request.get("runs", 50)), float(request.get("min_secs", 0.0))
    max_secs = float(request.get("max_secs", 150.0))
    samples: List[float] = []
    unprofiled: List[float] = []
    began = time.perf_counter()
    next_report = began + PROGRESS_EVERY_S
    while True:
        baseline_first = baseline is not None and len(samples) % 2 == 1
        if baseline_first:
            unprofiled.append(_timed(baseline))  # type: ignore[arg-type]
        samples.append(_profiled(compiled, table))
        if baseline is not None and not baseline_first:
            unprofiled.append(_timed(baseline))
        now = time.perf_counter()
        if (len(samples) >= runs and now - began >= min_secs) or now - began >= max_secs:
            return samples, unprofiled if baseline is not None else None
        if now >= next_report:
            emit("progress", phase="runs", done=len(samples), target=runs, elapsed_s=round(now - began, 3))
            next_report = now + PROGRESS_EVERY_S


def _model_io(runtime: Runtime, request: Mapping[str, Any], threads: int):
    """Inputs as bench makes them (names, shapes, generated or given values) and the outputs' shapes, by tensor name,
    from a plain interpreter (no delegate) that is dropped before anything is timed."""
    interpreter = load_interpreter(runtime, request["model"], threads, False)
    details = inputs.with_signature_names(interpreter, interpreter.get_input_details())
    shapes, matched = input_shapes(details, dict(explicit_shapes(request)), given_inputs(request))
    allocate(runtime, interpreter, shapes)
    details = inputs.with_signature_names(interpreter, interpreter.get_input_details())
    if matched is None:
        feeds = inputs.random_inputs(details, int(request.get("seed", inputs.DEFAULT_SEED)))
    else:
        feeds = {d["name"]: inputs.to_input(d, matched[d["name"]][:1]) for d in details}
    outputs = inputs.with_signature_names(interpreter, interpreter.get_output_details())
    shapes_out = {d["name"]: (np.dtype(d["dtype"]), [int(x) for x in d["shape"]]) for d in outputs}
    names = {d["name"]: inputs.names_of(d)[0] for d in outputs}
    return details, feeds, shapes_out, names


def run_profile(runtime: Runtime, request: Mapping[str, Any]) -> Dict[str, Any]:
    api = LiteRt(runtime)  # refuses a runtime without the profiler before anything is loaded
    model_path = request["model"]
    if not os.path.isfile(model_path):
        raise AgentFailure("model_missing", "model file not found: %s" % model_path)
    threads, xnnpack = int(request.get("threads", 1)), bool(request.get("xnnpack", True))
    details, feeds, outputs, output_names = _model_io(runtime, request, threads)
    environment = api.new("LiteRtCreateEnvironment", 0, None)
    opened: List[Compiled] = []
    try:
        start = time.perf_counter()
        compiled = Compiled(api, environment, model_path, threads, xnnpack, profiled=True)
        opened.append(compiled)
        compiled.bind(feeds, outputs)
        init_ms = (time.perf_counter() - start) * 1e3
        baseline = None
        if request.get("baseline"):
            baseline = Compiled(api, environment, model_path, threads, xnnpack, profiled=False)
            opened.append(baseline)
            baseline.bind(feeds, outputs)
        first_ms = _timed(compiled)
        for _ in range(int(request.get("warmup", 1))):
            for each in opened:
                each.run()
        table = EventTable()
        samples, unprofiled = _counted(compiled, baseline, request, table)
        results = {
            output_names[name]: {
                "shape": list(compiled.arrays[name].shape),
                "checksum": finite_list(compiled.arrays[name].astype(np.float64).sum())[0],
            }
            for name in outputs
        }
    finally:
        for each in opened:
            each.close()
        api.lib.LiteRtDestroyEnvironment(environment)
    return {
        "threads": threads,
        "xnnpack": xnnpack,
        "samples_ms": samples,
        "unprofiled_ms": unprofiled,
        "events": table.as_list(),
        "runtime": runtime.describe(),
        "runtime_load_ms": runtime.load_ms,
        "init_ms": init_ms,
        "first_inference_ms": first_ms,
        "inputs": request.get("inputs") or "generated (seed %s)" % request.get("seed", inputs.DEFAULT_SEED),
        "input_shapes": {inputs.names_of(d)[0]: [int(x) for x in d["shape"]] for d in details},
        "outputs": results,
    }
