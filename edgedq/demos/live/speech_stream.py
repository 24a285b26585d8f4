"""The speech test stream: keywords from held-out voices at known times, in minutes of other speech and noise.

Every keyword is spoken by one of the voices the speech demo never trains on (every 4th voice of its quick
setting, which its full setting holds out too), at a random speed and pitch, with at least half a second of
quiet around it; between keywords, other espeak-ng voices say phrases of words that are not keywords, and
noise (white or brown-ish, slowly changing level) runs under everything.  Beside ``stream.wav`` (16 kHz mono
16-bit) is ``stream.json``: where each keyword was spoken (start and end of the voiced part, in seconds).
The stream is built once per setting and cached; it is as SYNTHETIC as the model's training data.
"""

from __future__ import annotations

import json
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedq import files
from edgedq.demos import speech
from edgedq.demos.runner import demo_folder

SAMPLE_RATE = speech.SAMPLE_RATE
FILLER = ["house", "cat", "tree", "bird", "stop", "dog", "bed", "happy", "zero", "seven", "marvin", "sheila",
          "learn", "follow", "visual", "morning", "table", "water", "green", "window", "music", "paper", "garden",
          "coffee", "river", "yellow", "number", "apple", "city", "little", "minute", "orange", "purple", "basket",
          "silver", "winter", "summer", "travel", "kitchen", "pencil", "camera", "station", "market", "doctor",
          "teacher", "maybe", "always", "often", "today", "after", "before", "with", "from", "the", "is", "was",
          "and", "we", "they", "some", "many", "blue", "red", "black", "white", "bread", "sister",
          "evening"]  # fmt: skip
QUIET_S = 0.6  # around every keyword: the window that finds it holds nothing else


@dataclass(frozen=True)
class StreamSettings:
    seconds: float = 150.0
    repeats: int = 5  # of each keyword: 30 keywords in 2.5 minutes
    seed: int = 7


def held_out_voices() -> list[str]:
    """Voices the demo model never heard, in either of its settings."""
    return [name for name in speech.voices(speech.SETTINGS["full"]["voices"]) if speech.held_out(name)]


def voiced(audio: np.ndarray) -> tuple[int, int]:
    """First and last sample of the spoken part (espeak pads its output with silence)."""
    frame = 160
    energy = np.array([np.sqrt(np.mean(audio[i : i + frame] ** 2)) for i in range(0, len(audio) - frame + 1, frame)])
    loud = np.flatnonzero(energy > 0.05 * energy.max()) if energy.size and energy.max() > 0 else np.array([0])
    return int(loud[0] * frame), int(min(len(audio), (loud[-1] + 1) * frame))


def _noise(samples: int, rng: np.random.Generator) -> np.ndarray:
    """White and brown-ish noise whose level drifts over seconds, about 30-45 dB under the speech."""
    white = rng.standard_normal(samples).astype(np.float32)
    brown = np.cumsum(rng.standard_normal(samples)).astype(np.float32)
    brown -= _moving_average(brown, 4001)  # no drift to the rails
    brown /= np.abs(brown).max() + 1e-6
    level = np.interp(np.arange(samples), np.linspace(0, samples, 12), rng.uniform(0.002, 0.012, 12))
    return ((0.5 * white / 3.0 + brown) * level).astype(np.float32)


def _moving_average(values: np.ndarray, width: int) -> np.ndarray:
    sums = np.cumsum(np.concatenate([[0.0], values]))
    half = width // 2
    ends = np.clip(np.arange(len(values)) + half + 1, 0, len(values))
    starts = np.clip(np.arange(len(values)) - half, 0, len(values))
    return ((sums[ends] - sums[starts]) / (ends - starts)).astype(np.float32)


def build(settings: StreamSettings = StreamSettings()) -> tuple[Path, Path]:
    """``(stream.wav, stream.json)``, built once per setting."""
    folder = demo_folder("speech-stream", {"v": 3, **settings.__dict__})
    wav, labels = folder / "stream.wav", folder / "stream.json"
    if wav.is_file() and labels.is_file():
        return wav, labels
    rng = np.random.default_rng(settings.seed)
    keywords = [word for word in speech.KEYWORDS for _ in range(settings.repeats)]
    rng.shuffle(keywords)
    held, others = held_out_voices(), speech.voices(speech.SETTINGS["full"]["voices"])
    jobs = [(str(rng.choice(held)), word, int(rng.integers(110, 200)), int(rng.integers(25, 75))) for word in keywords]
    slot = settings.seconds / (len(keywords) + 1)
    phrases = [
        (str(rng.choice(others)), " ".join(rng.choice(FILLER, int(rng.integers(2, 6)))), int(rng.integers(120, 190)),
         int(rng.integers(25, 75)))
        for _ in range(len(keywords) + 1)
    ]  # fmt: skip
    with ThreadPoolExecutor(max_workers=4) as pool:
        spoken = list(pool.map(lambda job: speech.synthesize(*job), jobs))
        said = list(pool.map(lambda job: speech.synthesize(*job), phrases))
    total = int(settings.seconds * SAMPLE_RATE)
    audio = _noise(total, rng)
    marks = []
    for index, (job, clip) in enumerate(zip(jobs, spoken, strict=True)):
        first, last = voiced(clip)
        clip = clip[first:last] * rng.uniform(0.4, 1.0)
        at = int(((index + 1) * slot + rng.uniform(-0.25, 0.25) * slot) * SAMPLE_RATE)
        audio[at : at + len(clip)] += clip
        marks.append({"keyword": job[1], "start": round(at / SAMPLE_RATE, 3),
                      "end": round((at + len(clip)) / SAMPLE_RATE, 3), "voice": job[0]})  # fmt: skip
    others_said = _fill(audio, marks, phrases, said, rng)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(folder / ".stream.partial.wav"), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(pcm.tobytes())
    (folder / ".stream.partial.wav").replace(wav)
    files.atomic_write_json(labels, {"sample_rate": SAMPLE_RATE, "seconds": settings.seconds, "keywords": marks,
                                     "other_speech": others_said,
                                     "made_by": "espeak-ng (synthetic): edgedq.demos.live.speech_stream"})  # fmt: skip
    return wav, labels


def _fill(
    audio: np.ndarray, marks: list[dict], phrases: list[tuple], said: list[np.ndarray], rng: np.random.Generator
) -> list[dict]:
    """Other speech in each gap between keywords, clear of them by QUIET_S (a phrase that does not fit is cut);
    what was said where."""
    edges = [0.0] + [edge for mark in marks for edge in (mark["start"], mark["end"])] + [len(audio) / SAMPLE_RATE]
    placed = []
    for gap, (phrase, clip) in enumerate(zip(phrases, said, strict=True)):
        begin, end = edges[2 * gap] + QUIET_S, edges[2 * gap + 1] - QUIET_S
        if end - begin < 0.5:
            continue
        first, last = voiced(clip)
        clip = clip[first:last][: int((end - begin) * SAMPLE_RATE)] * rng.uniform(0.4, 1.0)
        spare = (end - begin) - len(clip) / SAMPLE_RATE
        at = int((begin + rng.uniform(0, max(spare, 0))) * SAMPLE_RATE)
        audio[at : at + len(clip)] += clip
        placed.append({"text": phrase[1], "voice": phrase[0], "start": round(at / SAMPLE_RATE, 3),
                       "end": round((at + len(clip)) / SAMPLE_RATE, 3)})  # fmt: skip
    return placed


def load_labels(path: Path) -> list[dict]:
    """The keywords of a labelled stream (``NAME.json`` beside ``NAME.wav``), sorted by time."""
    data = json.loads(path.read_text())
    return sorted(data["keywords"], key=lambda mark: mark["start"])
