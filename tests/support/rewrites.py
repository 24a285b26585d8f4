"""Small edits of a real .tflite's flatbuffer, for models TensorFlow would not make but a user's file may be."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedq.tflite import flatbuffer


def renumbered(data: bytes, first: int) -> bytes:
    """The same model with tensor ``first`` of its main graph moved to index 0 (the others after it, in order):
    the same graph under other tensor numbers, as another converter may number it."""
    model = flatbuffer.read_model(data)
    graph = model.subgraphs[0]
    order = [first] + [i for i in range(len(graph.tensors)) if i != first]
    new = {old: position for position, old in enumerate(order)}

    def remap(indices):
        return None if indices is None else np.array([new[i] if i >= 0 else i for i in indices], dtype=np.int32)

    graph.tensors = [graph.tensors[i] for i in order]
    for operator in graph.operators:
        operator.inputs, operator.outputs = remap(operator.inputs), remap(operator.outputs)
    graph.inputs, graph.outputs = remap(graph.inputs), remap(graph.outputs)
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex == 0:
            for entry in [*(signature.inputs or []), *(signature.outputs or [])]:
                entry.tensorIndex = new[entry.tensorIndex]
    return flatbuffer.write_model(model)


def open_dims(model: Path, target: Path, positions: tuple[int, ...] = (0,)) -> Path:
    """``model`` with these dimensions of its inputs declared open (-1): the batch, as ``convert --batch none``
    leaves it, or an image's height and width, as a fully convolutional model can take any."""
    parsed = flatbuffer.read_model(model.read_bytes())
    graph = parsed.subgraphs[0]
    for index in graph.inputs:
        tensor = graph.tensors[index]
        tensor.shapeSignature = np.array([-1 if i in positions else d for i, d in enumerate(tensor.shape)], np.int32)
    target.write_bytes(flatbuffer.write_model(parsed))
    return target


def scaled_weights(model: Path, target: Path, factor: float) -> Path:
    """``model`` with every float32 weight buffer multiplied by ``factor`` (-1 turns the identity classifier's
    ranking upside down: it then picks each sample's smallest score)."""
    parsed = flatbuffer.read_model(model.read_bytes())
    for ref in flatbuffer.iter_ops(parsed):
        tensor = parsed.subgraphs[ref.subgraph].tensors[ref.operator.inputs[1]]
        weights = flatbuffer.buffer_array(parsed, tensor)
        if weights is not None and weights.dtype == np.float32:
            parsed.buffers[tensor.buffer].data = (weights * np.float32(factor)).reshape(-1).view(np.uint8)
    target.write_bytes(flatbuffer.write_model(parsed))
    return target


def embedding_lookup_model(target: Path, rows: int = 50, tokens: int = 8, width: int = 4) -> Path:
    """A model made here without TensorFlow: one GATHER of ``tokens`` int32 ids from a float table of ``rows``.

    Ids past the table (edgedq generates int32 ids in [0, 256)) make the runtime fail the inference, as a real
    embedding layer does."""
    from ai_edge_litert import schema_py_generated as schema

    def tensor(name: str, shape: list[int], kind: int, buffer: int) -> schema.TensorT:
        made = schema.TensorT()
        made.name, made.shape, made.type, made.buffer = name, np.array(shape, np.int32), kind, buffer
        return made

    table = schema.BufferT()
    table.data = np.arange(rows * width, dtype=np.float32).view(np.uint8)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.GATHER
    code.version = 1
    gather = schema.OperatorT()
    gather.opcodeIndex, gather.inputs, gather.outputs = 0, np.array([1, 0], np.int32), np.array([2], np.int32)
    gather.builtinOptionsType = schema.BuiltinOptions.GatherOptions
    gather.builtinOptions = schema.GatherOptionsT()
    graph = schema.SubGraphT()
    graph.tensors = [
        tensor("ids", [1, tokens], schema.TensorType.INT32, 0),
        tensor("table", [rows, width], schema.TensorType.FLOAT32, 1),
        tensor("vectors", [1, tokens, width], schema.TensorType.FLOAT32, 0),
    ]
    graph.inputs, graph.outputs, graph.operators, graph.name = np.array([0]), np.array([2]), [gather], "main"
    model = schema.ModelT()
    model.version, model.description = 3, "edgedq test: an embedding lookup"
    model.operatorCodes, model.subgraphs, model.buffers = [code], [graph], [schema.BufferT(), table]
    target.write_bytes(flatbuffer.write_model(model))
    return target
