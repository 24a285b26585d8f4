"""``live_speech``: a streaming keyword spotter on the board, detections sent back as they happen.

Audio arrives a hop at a time (20-40 ms).  Log-mel frames are computed once each, as their samples arrive,
by the same front end the model was trained with (``frontend``): on the 20 ms frame grid a 1 s window is
exactly the last 49 frames, so a window costs one or two new frames and one inference.  Posteriors (softmax)
are averaged over the last ``smooth_s`` (a keyword is heard for as long as it is inside the window, a stray
sound at the window's edge only briefly); a keyword whose smoothed posterior reaches the threshold is a
detection, and none follows for the refractory time nor before the posteriors fell below the threshold again.

Per window it measures the latency (from the arrival of the hop's last sample to the decision) and the
processing time (front end + model + smoothing); the real-time factor is processing time / audio time.
"""

from __future__ import annotations

import collections
import time
from typing import Any, Dict, List, Mapping

import numpy as np
from edgedq_agent import frontend
from edgedq_agent.live import LiveModel, Meter, Ticker, run_summary, seconds_limit
from edgedq_agent.protocol import emit
from edgedq_agent.runtime import AgentFailure, Runtime
from edgedq_agent.sources import SAMPLE_RATE, WAITING, audio_source, end_group

SILENT_S = 30.0  # a source that sends nothing for this long has failed (a microphone sends all the time)
POLL_S = 0.25  # waiting for audio, the loop still ticks: the host sees a board that waits, not a silent one


class Spotter:
    """Frames as samples arrive, a window over the last ``frames`` of them, smoothed posteriors, detections."""

    def __init__(self, model: LiveModel, request: Mapping[str, Any]) -> None:
        self.model = model
        self.spec = dict(request.get("frontend") or {"kind": "logmel"})
        params = dict(frontend.DEFAULTS, **(self.spec.get("params") or {}))
        self.frame_hop = int(round(SAMPLE_RATE * params["hop_ms"] / 1000.0))
        self.frame_len = int(round(SAMPLE_RATE * params["window_ms"] / 1000.0))
        self.frames, mels = model.shape[1], model.shape[2]
        self.spec["params"] = dict(self.spec.get("params") or {}, mels=mels)
        self.window = np.zeros((self.frames, mels), dtype=np.float32)
        self.computed = 0  # frames computed so far
        self.buffer = np.zeros(0, dtype=np.float32)
        self.buffer_start = 0  # absolute index of buffer[0]
        self.received = 0
        self.keywords: List[int] = [int(k) for k in request["keywords"]]
        self.classes: List[str] = list(request["classes"])
        self.threshold = float(request.get("threshold", 0.8))
        self.refractory_s = float(request.get("refractory_s", 1.0))
        self.hop_s = float(request.get("hop_ms", 20.0)) / 1000.0
        smooth = max(1, int(round(float(request.get("smooth_s", 0.4)) / self.hop_s)))
        self.posteriors: collections.deque = collections.deque(maxlen=smooth)
        self.quiet_until = 0.0
        self.armed = True

    def feed(self, pcm: bytes) -> Any:
        """One hop of S16_LE samples; the detection it completes (keyword, score), or None."""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        self.buffer = np.concatenate([self.buffer, samples])
        self.received += len(samples)
        spare = self.received - self.frame_len - self.computed * self.frame_hop
        if spare < 0:
            return None
        ready = spare // self.frame_hop + 1
        begin = self.computed * self.frame_hop - self.buffer_start
        end = (self.computed + ready - 1) * self.frame_hop + self.frame_len - self.buffer_start
        new = frontend.apply(self.spec, self.buffer[begin:end][None])[0]
        self.window = np.concatenate([self.window, new])[-self.frames :]
        self.computed += ready
        drop = self.computed * self.frame_hop - self.buffer_start
        self.buffer, self.buffer_start = self.buffer[drop:], self.buffer_start + drop
        if self.computed < self.frames:
            return None
        logits = next(iter(self.model.run(self.window[None, ..., None]).values())).reshape(-1).astype(np.float64)
        posterior = np.exp(logits - logits.max())
        self.posteriors.append(posterior / posterior.sum())
        smoothed = np.mean(self.posteriors, axis=0)
        best = max(self.keywords, key=lambda k: smoothed[k])
        now = self.received / float(SAMPLE_RATE)
        if smoothed[best] < self.threshold:
            self.armed = True
        elif self.armed and now >= self.quiet_until:
            self.quiet_until, self.armed = now + self.refractory_s, False
            return self.classes[best], float(smoothed[best])
        return None


def run_live_speech(runtime: Runtime, request: Mapping[str, Any]) -> Dict[str, Any]:
    model = LiveModel(runtime, request)
    if len(model.shape) != 4 or model.shape[3] != 1:
        raise AgentFailure("bad_inputs", "the spotter takes a (1, frames, mels, 1) log-mel input, not %s" % model.shape)
    spotter = Spotter(model, request)
    hop_ms = float(request.get("hop_ms", 20.0))
    hop = int(round(SAMPLE_RATE * hop_ms / 1000.0))
    if hop % spotter.frame_hop:
        raise AgentFailure("bad_inputs", "the hop (%g ms) must be a multiple of the front end's frame hop" % hop_ms)
    limit = seconds_limit(request)
    meter = Meter()
    ticker = Ticker(meter, float(request.get("report_every_s", 1.0)))
    source = audio_source(request["source"], hop).start()
    latencies: List[float] = []
    windows, processing, ended = 0, 0.0, "end of stream"
    try:
        while True:
            if limit is not None and spotter.received >= limit * SAMPLE_RATE:
                ended = "seconds"
                break
            item = source.take(POLL_S)
            if item is WAITING:
                source.check_alive(SILENT_S)
            elif item is None:
                break
            else:
                began = time.perf_counter()
                found = spotter.feed(item.data)
                done = time.perf_counter()
                if spotter.computed >= spotter.frames:
                    windows += 1
                    processing += done - began
                    latencies.append((done - item.arrived) * 1e3)
                if found:
                    emit("event", kind="detection", time_s=spotter.received / float(SAMPLE_RATE), keyword=found[0],
                         score=found[1], latency_ms=(done - item.arrived) * 1e3)  # fmt: skip
            if ticker.due():
                ticker.send(stream_s=spotter.received / float(SAMPLE_RATE), latency_ms=latencies,
                            processing_s=processing, windows=windows)  # fmt: skip
                latencies = []
    finally:
        source.close()
        end_group()
    stream_s = spotter.received / float(SAMPLE_RATE)
    ticker.send(stream_s=stream_s, latency_ms=latencies, processing_s=processing, windows=windows)
    return {
        **run_summary(runtime, model, source, ended, meter),
        "stream_s": stream_s,
        "wall_s": time.perf_counter() - meter.started,
        "windows": windows,
        "processing_s": processing,
        "real_time_factor": processing / stream_s if stream_s else None,
    }
