"""Model inputs: generated with a documented distribution, or taken from arrays given.

Generated inputs (fixed seed): float tensors ~ Uniform(-1, 1); integer tensors
uniform over the dtype's full range (int32/int64: [0, 256)); bool fair coin.
Dynamic dimensions (-1) become 1.  Host and agent use this same code, so a
comparison on the host and a run on the board see the same numbers.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

import numpy as np

DEFAULT_SEED = 0


def concrete_shape(detail: Mapping) -> List[int]:
    signature = detail.get("shape_signature")
    shape = list(signature) if signature is not None and len(signature) else list(detail["shape"])
    return [int(d) if d > 0 else 1 for d in shape]


def random_input(detail: Mapping, rng: np.random.Generator, batch: int = 0) -> np.ndarray:
    """One tensor for ``detail`` (an interpreter input detail); ``batch`` > 0 overrides dim 0."""
    shape = concrete_shape(detail)
    if batch and shape:
        shape[0] = batch
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        high = 256 if dtype.itemsize >= 4 else int(info.max) + 1
        low = 0 if dtype.itemsize >= 4 else int(info.min)
        return rng.integers(low, high, size=shape, dtype=np.int64).astype(dtype)
    raise ValueError("cannot generate inputs of dtype %s" % dtype)


def random_inputs(details: Sequence[Mapping], seed: int = DEFAULT_SEED) -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {d["name"]: random_input(d, rng) for d in details}


def sample_stream(details: Sequence[Mapping], count: int, seed: int = DEFAULT_SEED):
    """``count`` generated samples, one dict of single-example tensors each."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield {d["name"]: random_input(d, rng) for d in details}


def match_arrays(details: Sequence[Mapping], arrays: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Map given arrays to inputs: by input name, else ``x`` for a single input, else in order."""
    names = [d["name"] for d in details]
    if all(name in arrays for name in names):
        return {name: arrays[name] for name in names}
    if len(names) == 1 and "x" in arrays:
        return {names[0]: arrays["x"]}
    keys = [k for k in arrays if k != "y"]
    if len(keys) != len(names):
        raise ValueError("the data has arrays %s but the model has inputs %s" % (keys, names))
    return dict(zip(names, (arrays[k] for k in keys)))


def check_example(detail: Mapping, array: np.ndarray) -> None:
    """Raise ValueError unless ``array`` (one example, batch dim 1) fits the input; -1 dims match anything."""
    signature = detail.get("shape_signature")
    expected = list(signature) if signature is not None and len(signature) else list(detail["shape"])
    actual = list(array.shape)
    if len(actual) != len(expected) or any(e > 0 and e != a for e, a in zip(expected[1:], actual[1:])):
        shown = [int(d) if d > 0 else None for d in expected]
        raise ValueError("input %s expects shape %s, the data has %s" % (detail["name"], shown, actual))
    dtype = np.dtype(detail["dtype"])
    if array.dtype != dtype and not (dtype.kind == "f" and array.dtype.kind in "fiu"):
        raise ValueError("input %s expects %s, the data has %s" % (detail["name"], dtype, array.dtype))


def read_npz(path: str) -> Dict[str, np.ndarray]:
    """Every array of an ``.npz`` (no pickles); ValueError when it cannot be read or is empty."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as exc:  # numpy raises OSError, ValueError, BadZipFile ... for a bad file
        raise ValueError("%s is not a readable .npz (%s)" % (path, exc)) from None
    if not arrays:
        raise ValueError("%s holds no arrays" % path)
    return arrays


def fit_arrays(details: Sequence[Mapping], arrays: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Arrays matched to the model's inputs and checked against them (first axis = samples)."""
    try:
        matched = match_arrays(details, arrays)
        for detail in details:
            check_example(detail, matched[detail["name"]][:1])
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    return matched


def _scale_zero_point(detail: Mapping):
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return float(scale), int(zero_point)


def to_input(detail: Mapping, array: np.ndarray) -> np.ndarray:
    """Cast (or quantize, for an int8/uint8 input with a scale) one example for ``detail``."""
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = _scale_zero_point(detail)
    if dtype.kind in "iu" and scale > 0 and np.asarray(array).dtype.kind == "f":
        info = np.iinfo(dtype)
        return np.clip(np.round(array / scale) + zero_point, info.min, info.max).astype(dtype)
    return np.asarray(array).astype(dtype, copy=False)


def from_output(detail: Mapping, array: np.ndarray) -> np.ndarray:
    """Output as float32, dequantized when the output tensor is quantized."""
    scale, zero_point = _scale_zero_point(detail)
    if np.asarray(array).dtype.kind in "iu" and scale > 0:
        return (array.astype(np.float32) - zero_point) * scale
    return np.asarray(array, dtype=np.float32)
