"""Read, walk and write TFLite flatbuffers with the schema that ai-edge-litert ships.

The object API (``ModelT``) is used so that a model can be rewritten in place
and packed again; weight buffers arrive as numpy arrays, which keeps it fast
for models of tens of megabytes.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from edgedq.errors import BadInput

_OPCODE_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
_NUMPY_TYPES = {
    schema.TensorType.FLOAT32: np.float32,
    schema.TensorType.FLOAT16: np.float16,
    schema.TensorType.INT8: np.int8,
    schema.TensorType.UINT8: np.uint8,
    schema.TensorType.INT16: np.int16,
    schema.TensorType.INT32: np.int32,
    schema.TensorType.INT64: np.int64,
    schema.TensorType.BOOL: np.bool_,
}
_FILE_IDENTIFIER = b"TFL3"


def read_model(data: bytes, source: str = "model") -> schema.ModelT:
    """Parse a TFLite flatbuffer, refusing anything that is not one."""
    if len(data) < 8 or data[4:8] != _FILE_IDENTIFIER:
        raise BadInput(f"{source} is not a TFLite model (no TFL3 identifier)", hint="check the file path")
    try:
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as exc:  # flatbuffers raises bare struct/index errors on truncation
        raise BadInput(f"{source} is corrupt or truncated ({_why(exc)})") from exc
    if not model.subgraphs:
        raise BadInput(f"{source} has no subgraphs")
    return model


def check_model_file(path: Path) -> None:
    """Refuse what is not a TFLite model before it is sent anywhere, without reading a big file whole.

    The identifier first, then the root table's shape through a memory map: enough to stop a wrong file
    (a checkpoint, a video, a truncated download) from being uploaded to a board and handed to its runtime.
    """
    try:
        with open(path, "rb") as handle:
            if handle.read(8)[4:8] != _FILE_IDENTIFIER:
                raise BadInput(f"{path} is not a TFLite model (no TFL3 identifier)", hint="check the file path")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                model = schema.Model.GetRootAs(data, 0)
                if model.SubgraphsLength() < 1 or model.Subgraphs(0).OperatorsLength() < 0:
                    raise BadInput(f"{path} is corrupt or not a TFLite model (it has no subgraph)")
                model.OperatorCodesLength(), model.BuffersLength()
    except OSError as exc:
        raise BadInput(f"{path}: cannot read it ({exc.strerror})") from None
    except BadInput:
        raise
    except Exception as exc:  # flatbuffers raises bare struct/index errors on nonsense offsets
        raise BadInput(f"{path} is corrupt or truncated ({_why(exc)})") from None


def _why(exc: BaseException) -> str:
    """What a flatbuffers exception means, in words (``struct.error`` prints as just 'error')."""
    if isinstance(exc, struct.error | IndexError):
        return "its tables point past the end of the file"
    return f"{type(exc).__name__}: {exc}"[:120]


def write_model(model: schema.ModelT) -> bytes:
    """Pack a model object back into flatbuffer bytes."""
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_FILE_IDENTIFIER)
    return bytes(builder.Output())


def opcode_name(model: schema.ModelT, opcode_index: int) -> str:
    """Builtin op name (e.g. ``CONV_2D``) or the custom op's own name."""
    code = model.operatorCodes[opcode_index]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        return (code.customCode or b"CUSTOM").decode() if isinstance(code.customCode, bytes) else str(code.customCode)
    return _OPCODE_NAMES.get(builtin, f"BUILTIN_{builtin}")


def type_name(tensor_type: int) -> str:
    """Lower-case dtype name as users know it (``float32``, ``int8`` ...)."""
    return _TYPE_NAMES.get(tensor_type, str(tensor_type)).lower()


def tensor_name(tensor: schema.TensorT) -> str:
    name = tensor.name
    return name.decode() if isinstance(name, bytes) else str(name or "")


def buffer_array(model: schema.ModelT, tensor: schema.TensorT) -> np.ndarray | None:
    """The constant data behind a tensor, shaped, or None for an activation."""
    data = model.buffers[tensor.buffer].data if tensor.buffer < len(model.buffers) else None
    if data is None or len(data) == 0 or tensor.type not in _NUMPY_TYPES:
        return None
    raw = np.asarray(data, dtype=np.uint8).view(_NUMPY_TYPES[tensor.type])
    shape = list(tensor.shape) if tensor.shape is not None else [raw.size]
    return raw.reshape(shape) if int(np.prod(shape)) == raw.size else raw


@dataclass(frozen=True)
class OpRef:
    """One operator in a subgraph, with the names needed to match recipes against it."""

    subgraph: int
    index: int
    op_type: str
    operator: schema.OperatorT


def iter_ops(model: schema.ModelT) -> Iterator[OpRef]:
    for subgraph_index, subgraph in enumerate(model.subgraphs):
        for op_index, operator in enumerate(subgraph.operators or []):
            yield OpRef(subgraph_index, op_index, opcode_name(model, operator.opcodeIndex), operator)


def drop_unused_buffers(model: schema.ModelT) -> None:
    """Remove buffers no tensor refers to any more, keeping buffer 0 (the empty sentinel)."""
    used = {0}
    for subgraph in model.subgraphs:
        used.update(tensor.buffer for tensor in subgraph.tensors or [])
    used.update(metadata.buffer for metadata in model.metadata or [])
    keep = sorted(index for index in used if index < len(model.buffers))
    remap = {old: new for new, old in enumerate(keep)}
    model.buffers = [model.buffers[index] for index in keep]
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors or []:
            tensor.buffer = remap[tensor.buffer]
    for metadata in model.metadata or []:
        metadata.buffer = remap[metadata.buffer]


def rename_signature_outputs(data: bytes, names: list[str]) -> bytes:
    """Signature outputs ``output_0 ...`` named as their author named them (Keras output names), by position."""
    if not names:
        return data
    model = read_model(data)
    renamed = False
    for signature in model.signatureDefs or []:
        for entry in signature.outputs or []:
            key = entry.name.decode() if isinstance(entry.name, bytes) else str(entry.name)
            if key.startswith("output_") and key[7:].isdigit() and int(key[7:]) < len(names):
                entry.name = names[int(key[7:])]
                renamed = True
    return write_model(model) if renamed else data
