"""Camera frames to model inputs with numpy alone: YUV420 to RGB, square letterboxing, resizing.

A camera gives I420 (a full-size Y plane, then U and V at half size each way); the models take small
square RGB or grey images.  This is the preprocessing a deployed vision loop does on every frame, so
it runs inside the timed loop.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np


def i420_to_rgb(data: bytes, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 RGB from one I420 frame (BT.601 limited range, as cameras send)."""
    plane = width * height
    raw = np.frombuffer(data, dtype=np.uint8)
    y = raw[:plane].reshape(height, width).astype(np.float32) - 16.0
    u = raw[plane : plane + plane // 4].reshape(height // 2, width // 2).astype(np.float32) - 128.0
    v = raw[plane + plane // 4 : plane + plane // 2].reshape(height // 2, width // 2).astype(np.float32) - 128.0
    u = u.repeat(2, axis=0).repeat(2, axis=1)
    v = v.repeat(2, axis=0).repeat(2, axis=1)
    y = y * 1.164
    rgb = np.stack([y + 1.596 * v, y - 0.392 * u - 0.813 * v, y + 2.017 * u], axis=-1)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def rgb_to_i420(rgb: np.ndarray) -> bytes:
    """The inverse, for test streams and checks: one I420 frame from (H, W, 3) uint8 RGB (even H and W)."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    height, width = y.shape

    def half(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))

    planes = [y, half(u), half(v)]
    return b"".join(np.clip(p + 0.5, 0, 255).astype(np.uint8).tobytes() for p in planes)


def as_rgb(frame: np.ndarray) -> np.ndarray:
    """A grey frame as RGB; RGB as it is."""
    return np.repeat(frame[..., None], 3, axis=-1) if frame.ndim == 2 else frame


def letterbox(frame: np.ndarray) -> Tuple[np.ndarray, int, int]:
    """The frame padded (black) to a square, centred; and the left and top padding, to map boxes back."""
    height, width = frame.shape[:2]
    side = max(height, width)
    left, top = (side - width) // 2, (side - height) // 2
    square = np.zeros((side, side) + frame.shape[2:], dtype=frame.dtype)
    square[top : top + height, left : left + width] = frame
    return square, left, top


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize (pixel centres aligned), float32 out, any number of channels.

    Shrinking by 2x or more first averages whole blocks of pixels: bilinear alone would skip thin strokes.
    """
    source = image.astype(np.float32)
    factor = min(source.shape[0] // height, source.shape[1] // width)
    if factor >= 2:
        rows, cols = source.shape[0] // factor * factor, source.shape[1] // factor * factor
        blocks = source[:rows, :cols].reshape((rows // factor, factor, cols // factor, factor) + source.shape[2:])
        source = blocks.mean(axis=(1, 3))
    in_h, in_w = source.shape[:2]
    ys = np.clip((np.arange(height) + 0.5) * in_h / height - 0.5, 0, in_h - 1)
    xs = np.clip((np.arange(width) + 0.5) * in_w / width - 0.5, 0, in_w - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, in_h - 1), np.minimum(x0 + 1, in_w - 1)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    if source.ndim == 3:
        wy, wx = wy[..., None], wx[..., None]
    top = source[y0][:, x0] * (1 - wx) + source[y0][:, x1] * wx
    bottom = source[y1][:, x0] * (1 - wx) + source[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def centre_square(frame: np.ndarray, share: float) -> np.ndarray:
    """The centred square whose side is ``share`` of the frame's shorter side (where a card would be held)."""
    height, width = frame.shape[:2]
    side = max(1, int(min(height, width) * share))
    top, left = (height - side) // 2, (width - side) // 2
    return frame[top : top + side, left : left + side]
