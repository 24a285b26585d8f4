"""The speech demo: keyword spotting on synthetic speech, the log-mel front end running on the device.

The data are SYNTHETIC: every clip is spoken by Debian's ``espeak-ng`` (no
recordings, no download).  A "voice" is an accent (8 English ones) with a
voice variant (male, female, klatt, croak ...); each says every keyword and an
"unknown" word at a few speeds and pitches, placed at a random point of a
1-second 16 kHz clip over a little noise.  "silence" clips are noise alone.
Whole voices are held out for testing, so the score is on speakers the model
never heard.  Features are the agent's own log-mel front end, on the host for
training and on the device for evaluation.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from edgedq_agent import frontend

from edgedq.demos.runner import Trained, demo_folder, save_npy, save_npz, train_keras
from edgedq.errors import EdgedqError
from edgedq.measure.datasets import SAMPLE_RATE, save_dataset

KEYWORDS = ["yes", "no", "up", "down", "left", "right"]
CLASSES = ["silence", "unknown", *KEYWORDS]
OTHER_WORDS = ["house", "cat", "tree", "bird", "go", "stop", "on", "off", "dog", "bed", "wow", "happy", "zero",
               "one", "seven", "marvin", "sheila", "learn", "follow", "visual",
               # many more: a spotter listening to speech hears all sorts of words, some with a keyword's sounds
               "cup", "pepper", "puppy", "supper", "open", "copy", "top", "shop", "jump", "wash", "yard", "leg",
               "ride", "rice", "sun", "bus", "fox", "box", "hat", "milk", "car", "ship", "fish", "book", "door",
               "chair", "road", "lamp", "drum", "friend", "money", "story", "family", "mother", "father", "school",
               "people", "question", "problem", "company", "system", "program", "country", "power", "office",
               "health", "service", "history", "party", "result", "change", "reason", "research", "girl", "guy",
               "moment", "air", "force", "education", "foot", "boy", "age", "policy", "process",
               "sense", "nation", "plan", "college", "interest", "death", "experience", "effect", "class", "control",
               "care", "field", "development", "role", "effort", "rate", "heart", "drug", "show", "leader", "price",
               "report", "decision", "view", "relationship", "difference", "thing", "idea", "game", "body",
               "information", "building", "picture", "engine", "planet", "silence",
               "thunder", "pocket", "button", "ticket", "jacket", "rabbit", "monkey", "turtle", "candle", "forest",
               "island", "mountain", "valley", "ocean", "desert", "bottle", "pillow", "blanket", "hammer"]  # fmt: skip
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
           "en-us-nyc"]  # fmt: skip
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "croak"]
SETTINGS = {
    "quick": {"voices": 48, "styles": 3, "unknowns": 2, "epochs": 20},
    "full": {"voices": 120, "styles": 3, "unknowns": 2, "epochs": 20},
}
SAMPLES = 8


def voices(count: int) -> list[str]:
    """``count`` accent+variant voices, spread over every accent and variant."""
    every = [f"{accent}+{variant}" for variant in VARIANTS for accent in ACCENTS]
    return [every[i] for i in np.linspace(0, len(every), min(count, len(every)), endpoint=False).astype(int)]


def held_out(voice: str) -> bool:
    """A quarter of the voices, spread over accents and variants, never heard in training (in any setting)."""
    accent, variant = voice.split("+")
    return (ACCENTS.index(accent) + VARIANTS.index(variant)) % 4 == 0


def synthesize(voice: str, word: str, speed: int, pitch: int) -> np.ndarray:
    """espeak-ng's 22.05 kHz speech, resampled to 16 kHz float32."""
    from scipy.signal import resample_poly

    done = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word], capture_output=True
    )
    if done.returncode != 0 or not done.stdout:
        raise EdgedqError(f"espeak-ng failed for voice {voice}: {done.stderr.decode(errors='replace').strip()}")
    with wave.open(io.BytesIO(done.stdout)) as handle:
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        rate = handle.getframerate()
    return resample_poly(pcm, SAMPLE_RATE, rate).astype(np.float32)


def place(speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One second: the word at a random offset, a random gain, over noise 20-40 dB below it."""
    clip = np.zeros(SAMPLE_RATE, dtype=np.float32)
    speech = speech[:SAMPLE_RATE]
    start = rng.integers(0, SAMPLE_RATE - len(speech) + 1)
    clip[start : start + len(speech)] = speech * rng.uniform(0.4, 1.0)
    level = np.sqrt(np.mean(clip**2)) + 1e-4
    return clip + rng.standard_normal(SAMPLE_RATE).astype(np.float32) * level * 10 ** (-rng.uniform(20, 40) / 20)


def noise(rng: np.random.Generator) -> np.ndarray:
    """A "silence" clip: white or brown-ish noise at a low, random level."""
    white = rng.standard_normal(SAMPLE_RATE).astype(np.float32)
    shaped = white if rng.random() < 0.5 else np.cumsum(white) / 40.0
    shaped = shaped - shaped.mean()
    return (shaped / (np.abs(shaped).max() + 1e-6) * rng.uniform(0.001, 0.05)).astype(np.float32)


def make_clips(
    voice_names: list[str], styles: int, seed: int, unknowns: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clips, labels, voice index of each clip) for every voice, keyword and style, plus ``unknowns`` other
    words (different ones) and a silence."""
    if not shutil.which("espeak-ng"):
        raise EdgedqError("the speech demo needs espeak-ng", hint="apt-get install espeak-ng (make setup does)")
    rng = np.random.default_rng(seed)
    jobs = []
    for v, voice in enumerate(voice_names):
        for _ in range(styles):
            speed, pitch = int(rng.integers(110, 200)), int(rng.integers(25, 75))
            words = [*KEYWORDS, *map(str, rng.choice(OTHER_WORDS, unknowns, replace=False))]
            jobs += [(v, voice, word, speed, pitch) for word in words]
    with ThreadPoolExecutor(max_workers=4) as pool:
        speech = list(pool.map(lambda job: synthesize(job[1], job[2], job[3], job[4]), jobs))
    clips, labels, owners = [], [], []
    for (v, _voice, word, _s, _p), audio in zip(jobs, speech, strict=True):
        clips.append(place(audio, rng))
        labels.append(CLASSES.index(word) if word in KEYWORDS else CLASSES.index("unknown"))
        owners.append(v)
    for v in range(len(voice_names)):  # as many silences per voice as each keyword has
        for _ in range(styles):
            clips.append(noise(rng))
            labels.append(CLASSES.index("silence"))
            owners.append(v)
    return np.stack(clips), np.array(labels, dtype=np.int64), np.array(owners)


def features(clips: np.ndarray) -> np.ndarray:
    """The device's front end, here: (N, 49, 40, 1)."""
    return np.concatenate([frontend.log_mel(clips[i : i + 256]) for i in range(0, len(clips), 256)])[..., None]


def build_model(mean: float, std: float):
    import keras

    def block(x, filters):
        x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))
        x = keras.layers.Conv2D(filters, 1, use_bias=False)(x)
        return keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))

    inputs = keras.Input((49, 40, 1))
    x = keras.layers.Rescaling(1.0 / std, offset=-mean / std)(inputs)
    x = keras.layers.Conv2D(64, (10, 4), strides=(2, 2), padding="same", use_bias=False)(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(x))
    for _ in range(3):
        x = block(x, 64)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(len(CLASSES))(x))


def train(quick: bool = True) -> Trained:
    settings = SETTINGS["quick" if quick else "full"]
    folder = demo_folder("speech", {"v": 4, **settings})
    names = voices(settings["voices"])
    held = [i for i, name in enumerate(names) if held_out(name)]
    cache = folder / "clips.npz"
    if not cache.is_file():
        clips, labels, owners = make_clips(names, settings["styles"], seed=0, unknowns=settings["unknowns"])
        save_npz(cache, clips=clips, labels=labels, owners=owners)
    with np.load(cache) as stored:
        clips, labels, owners = stored["clips"], stored["labels"], stored["owners"]
    test = np.isin(owners, held)
    x_train = features(clips[~test])
    mean, std = float(x_train.mean()), float(x_train.std())
    source = train_keras(
        folder / "kws.keras", lambda: build_model(mean, std), x_train, labels[~test], settings["epochs"], 3e-3
    )
    calibration = folder / "calibration.npz"
    save_npz(calibration, x=x_train[:: max(1, len(x_train) // 200)])
    test_set = save_dataset(
        {"x": clips[test], "y": labels[test]}, CLASSES, "espeak-ng speech (held-out voices)", {"kind": "logmel"}
    )
    pick = np.flatnonzero(test)[np.linspace(0, test.sum() - 1, SAMPLES).astype(int)]
    return Trained(
        name="speech",
        source=source,
        calibration=calibration,
        test=test_set,
        samples=save_npy(folder / "samples.npy", clips[pick]),
        sample_labels=labels[pick].tolist(),
        classes=CLASSES,
        frontend={"kind": "logmel"},
        notes=[
            "the speech is SYNTHETIC (espeak-ng), not recordings: accuracy here says little about real voices",
            f"{len(names)} voices x {settings['styles']} speeds/pitches; {len(held)} whole voices held out "
            f"({int(test.sum())} test clips, {int((~test).sum())} training clips)",
        ],
    )
