"""The audio front end: 1-second 16 kHz waveforms to log-mel spectrograms, with numpy only.

It runs on the board inside the agent (so a board gets raw audio and computes
features itself, as a deployed keyword spotter would) and on the host, which
trains with this very function: the same code on both sides means the same
features, and a test checks it.

Defaults: 30 ms Hann windows every 20 ms, a 512-point FFT, 40 mel bands from
20 Hz to 7.6 kHz (HTK mel scale), natural log of power + 1e-6: 49 x 40 per second.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, Mapping

import numpy as np

DEFAULTS: Dict[str, Any] = {
    "sample_rate": 16000,
    "window_ms": 30.0,
    "hop_ms": 20.0,
    "fft": 512,
    "mels": 40,
    "low_hz": 20.0,
    "high_hz": 7600.0,
}


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=8)  # the same bank for every chunk of an eval
def mel_filterbank(sample_rate: int, fft: int, mels: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Triangular filters, (fft // 2 + 1, mels), float32."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(low_hz), _hz_to_mel(high_hz), mels + 2))
    bins = np.linspace(0.0, sample_rate / 2.0, fft // 2 + 1)
    bank = np.zeros((fft // 2 + 1, mels), dtype=np.float64)
    for m in range(mels):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        rising = (bins - left) / (centre - left)
        falling = (right - bins) / (right - centre)
        bank[:, m] = np.maximum(0.0, np.minimum(rising, falling))
    return bank.astype(np.float32)


def log_mel(waveforms: np.ndarray, params: Mapping[str, Any] = DEFAULTS) -> np.ndarray:
    """(N, samples) float waveforms in [-1, 1] -> (N, frames, mels) float32 log-mel features."""
    p = dict(DEFAULTS)
    p.update(params or {})
    audio = np.asarray(waveforms, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    window = int(round(p["sample_rate"] * p["window_ms"] / 1000.0))
    hop = int(round(p["sample_rate"] * p["hop_ms"] / 1000.0))
    frames = 1 + max(0, (audio.shape[1] - window) // hop)
    index = np.arange(window)[None, :] + hop * np.arange(frames)[:, None]
    framed = audio[:, index] * np.hanning(window).astype(np.float32)
    power = np.abs(np.fft.rfft(framed, n=int(p["fft"]), axis=-1)) ** 2
    bank = mel_filterbank(int(p["sample_rate"]), int(p["fft"]), int(p["mels"]), p["low_hz"], p["high_hz"])
    return np.log(power.astype(np.float32) @ bank + 1e-6).astype(np.float32)


FRONTENDS = {"logmel": log_mel}


def apply(spec: Mapping[str, Any], block: np.ndarray) -> np.ndarray:
    """The front end a request names (``{"kind": "logmel", "params": {...}}``) over a block of samples."""
    kind = spec.get("kind")
    if kind not in FRONTENDS:
        raise ValueError("unknown front end %r; known: %s" % (kind, ", ".join(FRONTENDS)))
    return FRONTENDS[kind](block, spec.get("params") or {})
