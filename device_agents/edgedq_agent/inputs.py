"""Model inputs: generated with a documented distribution, or taken from arrays given; their shapes.

Generated inputs (fixed seed): float tensors ~ Uniform(-1, 1); integer tensors
uniform over the dtype's full range (int32/int64: [0, 256)); bool fair coin.
An open batch dimension (-1) becomes 1; other open dimensions need a shape
(``--input-shape``) or data that has one.  Inputs are known by their signature
name (the Keras/SavedModel input name) and their tensor name; given arrays are
matched by those names, never by order when there is more than one input.
Host and agent use this same code, so a comparison on the host and a run on
the board see the same numbers.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

DEFAULT_SEED = 0


def signature_shape(detail: Mapping) -> List[int]:
    """The declared shape, -1 where a dimension is open."""
    signature = detail.get("shape_signature")
    return [int(d) for d in (signature if signature is not None and len(signature) else detail["shape"])]


def concrete_shape(detail: Mapping) -> List[int]:
    """The shape to run at: ``detail["shape"]`` once resized, else the declared one with open dims as 1."""
    return [int(d) if d > 0 else 1 for d in (detail["shape"] if len(detail["shape"]) else signature_shape(detail))]


def open_dims(detail: Mapping) -> List[int]:
    """Positions of open dimensions other than the batch (those cannot be guessed)."""
    return [i for i, d in enumerate(signature_shape(detail)) if d < 0 and i > 0]


def names_of(detail: Mapping) -> List[str]:
    """Every name an input goes by: its signature name first, then its tensor name, bare and full."""
    tensor = detail["name"]
    bare = tensor.split(":")[0]
    bare = bare[len("serving_default_") :] if bare.startswith("serving_default_") else bare
    return list(dict.fromkeys(n for n in (detail.get("signature_name"), bare, tensor) if n))


def with_signature_names(interpreter, details: List[Dict]) -> List[Dict]:
    """``details`` with each input's or output's signature name (the name users gave it), where the model has one."""
    try:
        signatures = interpreter._get_full_signature_list() or {}
    except Exception:
        signatures = {}
    by_index = {}
    for signature in signatures.values():
        for kind in ("inputs", "outputs"):
            by_index.update({index: name for name, index in (signature.get(kind) or {}).items()})
    return [dict(d, signature_name=by_index.get(d["index"])) for d in details]


def parse_shape(text: str) -> Tuple[Optional[str], List[int]]:
    """``NAME:D0,D1,...`` or ``D0,D1,...`` (one input) -> (name or None, dims); ValueError when malformed."""
    name, _, dims = text.rpartition(":")
    try:
        shape = [int(d) for d in dims.split(",")]
    except ValueError:
        raise ValueError("%r is not NAME:D0,D1,... (whole numbers, comma-separated)" % text) from None
    if not shape or min(shape) < 1:
        raise ValueError("%r: every dimension must be a positive whole number" % text)
    return (name or None), shape


def resolve_shapes(details: Sequence[Mapping], shapes: Mapping) -> Dict[str, List[int]]:
    """Shapes keyed by any name of an input (or None for the only input) -> by tensor name, checked."""
    resolved = {}
    for key, dims in shapes.items():
        matches = [d for d in details if key in names_of(d)] if key is not None else list(details)
        if len(matches) != 1:
            known = ", ".join(names_of(d)[0] for d in details)
            problem = "name the input: %s" % known if key is None else "no input %r (inputs: %s)" % (key, known)
            raise ValueError("--input-shape %s: %s" % (key or ",".join(map(str, dims)), problem))
        detail = matches[0]
        declared = signature_shape(detail)
        if len(dims) != len(declared) or any(d > 0 and d != g for d, g in zip(declared, dims)):
            raise ValueError(
                "--input-shape for %s: %s does not fit its declared shape %s"
                % (names_of(detail)[0], list(dims), [d if d > 0 else None for d in declared])
            )
        resolved[detail["name"]] = [int(d) for d in dims]
    return resolved


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
    """Map given arrays to inputs by the inputs' names (signature name, then tensor name).

    One input may also take ``x``, or the only array there is.  Several inputs are never matched by order:
    TFLite may reorder them, and two inputs of one shape would be silently swapped.
    """
    matched = {}
    for detail in details:
        key = next((name for name in names_of(detail) if name in arrays), None)
        if key is not None:
            matched[detail["name"]] = arrays[key]
    if len(matched) == len(details):
        return matched
    if len(details) == 1:
        candidates = [k for k in arrays if k != "y"]
        key = "x" if "x" in arrays else (candidates[0] if len(candidates) == 1 else None)
        if key is not None:
            return {details[0]["name"]: arrays[key]}
    expected = ", ".join(repr(names_of(d)[0]) for d in details)
    raise ValueError(
        "the data has arrays %s; the model's inputs are %s: name each array after its input"
        % (", ".join(repr(k) for k in arrays), expected)
    )


def check_example(detail: Mapping, array: np.ndarray) -> None:
    """Raise ValueError unless ``array`` (one example, batch dim 1) fits the input; -1 dims match anything."""
    expected = signature_shape(detail)
    actual = list(array.shape)
    if len(actual) != len(expected) or any(e > 0 and e != a for e, a in zip(expected[1:], actual[1:])):
        shown = [int(d) if d > 0 else None for d in expected]
        raise ValueError("input %s expects shape %s, the data has %s" % (names_of(detail)[0], shown, actual))
    dtype = np.dtype(detail["dtype"])
    if array.dtype != dtype and not (dtype.kind == "f" and array.dtype.kind in "fiu"):
        raise ValueError("input %s expects %s, the data has %s" % (names_of(detail)[0], dtype, array.dtype))


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
