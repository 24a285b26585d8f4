"""BlazeFace's raw outputs to faces: MediaPipe's SSD anchors, box decoding, a sigmoid, and greedy NMS.

The short-range (front, 128x128) and back (256x256) BlazeFace models share one layout: 896 anchors, 512 on
a 16x16 grid (2 a cell) and 384 on an 8x8 grid (6 a cell), unit-sized and centred in their cells;
``regressors`` (896, 16) hold box centre offsets and sizes in input pixels, ``classificators`` (896, 1)
the face logits.  This is MediaPipe's SsdAnchorsCalculator and TensorsToDetections for those models.
"""

from __future__ import annotations

import functools
from typing import Dict, List, Tuple

import numpy as np

ANCHORS = 896


@functools.lru_cache(maxsize=4)
def anchors(size: int) -> np.ndarray:
    """(896, 2) anchor centres in [0, 1] for a BlazeFace of input ``size`` x ``size``."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.meshgrid((np.arange(grid) + 0.5) / grid, (np.arange(grid) + 0.5) / grid, indexing="ij")
        cells = np.stack([xs.reshape(-1), ys.reshape(-1)], axis=1)
        centres.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


def decode(regressors: np.ndarray, logits: np.ndarray, size: int) -> Tuple[np.ndarray, np.ndarray]:
    """(boxes (896, 4) as x0, y0, x1, y1 in [0, 1] of the model's input, scores (896,))."""
    raw = regressors.reshape(ANCHORS, -1)[:, :4] / float(size)
    centre = anchors(size) + raw[:, :2]
    half = raw[:, 2:4] / 2.0
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.reshape(ANCHORS).astype(np.float64), -100.0, 100.0)))
    return np.concatenate([centre - half, centre + half], axis=1), scores


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], others[:, 0]), np.maximum(box[1], others[:, 1])
    x1, y1 = np.minimum(box[2], others[:, 2]), np.minimum(box[3], others[:, 3])
    overlap = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return overlap / np.maximum(area - overlap, 1e-9)


def faces(boxes: np.ndarray, scores: np.ndarray, threshold: float, overlap: float = 0.3) -> List[int]:
    """Indices of the faces at or above ``threshold``, best first, each box kept once (greedy NMS)."""
    order = [int(i) for i in np.argsort(-scores) if scores[i] >= threshold]
    kept: List[int] = []
    for index in order:
        if not kept or float(_iou(boxes[index], boxes[kept]).max()) < overlap:
            kept.append(index)
    return kept


def to_frame(box: np.ndarray, side: int, left: int, top: int) -> Dict[str, int]:
    """A box in the letterboxed square's unit coordinates as pixels of the original frame."""
    x0, y0, x1, y1 = (float(v) * side for v in box)
    return {"x": int(round(x0 - left)), "y": int(round(y0 - top)), "w": int(round(x1 - x0)), "h": int(round(y1 - y0))}
