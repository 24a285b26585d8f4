"""``live_vision``: a sustained vision loop on the board, results sent back about once a second.

Frames come at the source's rate; the loop always takes the newest one, so when the model cannot keep up the
frames in between are dropped (and counted) rather than queued.  Each frame is decoded (YUV420 or an array),
preprocessed, run and read: BlazeFace gives faces and their scores, the digits model a digit read off a card
held in the middle of the picture.  Each frame's latency runs from its arrival to its result.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Mapping, Optional

import numpy as np
from edgedq_agent import blazeface, frames
from edgedq_agent.live import LiveModel, Meter, Ticker, run_summary, seconds_limit
from edgedq_agent.runtime import AgentFailure, Runtime
from edgedq_agent.sources import WAITING, end_group, frame_source

SILENT_S = 30.0
POLL_S = 0.25


class FaceTask:
    """BlazeFace: the best face's score (0 when none) and every face at or above the threshold."""

    def __init__(self, model: LiveModel, threshold: float) -> None:
        if model.shape[1:] not in ([128, 128, 3], [256, 256, 3]) or len(model.outputs) != 2:
            raise AgentFailure("bad_inputs", "not a BlazeFace model (128 or 256 square RGB in, 2 outputs): %s"
                               % model.shape)  # fmt: skip
        self.model, self.threshold, self.size = model, threshold, model.shape[1]

    def __call__(self, rgb: np.ndarray) -> Dict[str, Any]:
        square, left, top = frames.letterbox(rgb)
        outputs = self.model.run(frames.resize(square, self.size, self.size) / 127.5 - 1.0)
        by_size = sorted(outputs.values(), key=lambda a: a.size)  # classificators (896, 1), regressors (896, 16)
        boxes, scores = blazeface.decode(by_size[1], by_size[0], self.size)
        kept = blazeface.faces(boxes, scores, self.threshold)
        best = int(np.argmax(scores))
        return {
            "score": float(scores[best]),
            "faces": len(kept),
            "box": blazeface.to_frame(boxes[best], square.shape[0], left, top) if kept else None,
        }


class DigitTask:
    """The digits model on the centre of the frame: dark ink on a light card, scaled to its 0-1 white-on-black."""

    def __init__(self, model: LiveModel, request: Mapping[str, Any]) -> None:
        if len(model.shape) != 4 or model.shape[3] != 1:
            raise AgentFailure("bad_inputs", "the digits task takes a (1, H, W, 1) grey input, not %s" % model.shape)
        self.model, self.share = model, float(request.get("crop", 0.5))
        self.classes = list(request.get("classes") or [str(d) for d in range(10)])

    def __call__(self, rgb: np.ndarray) -> Dict[str, Any]:
        grey = frames.centre_square(rgb, self.share).astype(np.float32).mean(axis=2)
        small = frames.resize(grey, self.model.shape[1], self.model.shape[2])
        low, high = float(small.min()), float(small.max())
        ink = (high - small) / max(high - low, 1.0)
        logits = next(iter(self.model.run(ink[None, ..., None]).values())).reshape(-1).astype(np.float64)
        posterior = np.exp(logits - logits.max())
        posterior /= posterior.sum()
        best = int(np.argmax(posterior))
        return {"score": float(posterior[best]), "label": self.classes[best] if best < len(self.classes) else str(best)}


def run_live_vision(runtime: Runtime, request: Mapping[str, Any]) -> Dict[str, Any]:
    model = LiveModel(runtime, request)
    threshold = float(request.get("threshold", 0.5))
    task = FaceTask(model, threshold) if request["task"] == "face" else DigitTask(model, request)
    spec = request["source"]
    width, height = int(spec.get("width") or 0), int(spec.get("height") or 0)
    limit = seconds_limit(request)
    meter = Meter()
    ticker = Ticker(meter, float(request.get("report_every_s", 1.0)))
    source = frame_source(spec).start()
    batch: Dict[str, List[Any]] = {"frame": [], "t_s": [], "latency_ms": [], "score": [], "label": []}
    last: Optional[Dict[str, Any]] = None
    first: Optional[float] = None
    processed, ended = 0, "end of stream"
    try:
        while True:
            item = source.take(POLL_S)
            if item is WAITING:
                source.check_alive(SILENT_S)
                if ticker.due():
                    ticker.send(processed=processed, dropped=source.dropped, last=last, **batch)
                    batch = {key: [] for key in batch}
                continue
            if item is None:
                break
            first = item.arrived if first is None else first
            if limit is not None and item.arrived - first >= limit:
                ended = "seconds"
                break
            if spec.get("format") == "npy":
                rgb = frames.as_rgb(item.data)
            else:
                rgb = frames.i420_to_rgb(item.data, width, height)
            result = task(rgb)
            done = time.perf_counter()
            processed += 1
            batch["frame"].append(item.index)
            batch["t_s"].append(done - first)
            batch["latency_ms"].append((done - item.arrived) * 1e3)
            batch["score"].append(result["score"])
            batch["label"].append(result.get("label"))
            if result["score"] >= threshold:
                last = dict(result, frame=item.index)
            if ticker.due():
                ticker.send(processed=processed, dropped=source.dropped, last=last, **batch)
                batch = {key: [] for key in batch}
    finally:
        source.close()
        end_group()
    ticker.send(processed=processed, dropped=source.dropped, last=last, **batch)
    return {
        **run_summary(runtime, model, source, ended, meter),
        "stream_s": (time.perf_counter() - first) if first is not None else 0.0,
        "processed": processed,
        "dropped": source.dropped,
    }
