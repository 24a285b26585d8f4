"""The vision test stream: a camera's YUV420 frames of scikit-image's astronaut, coffee, and digit cards.

Three scenes, 200 frames of 320x240 at 30 fps (about 7 s; the live loop plays them round and round):

- the astronaut's head and shoulders moving left to right across a gravel background (a face in every frame);
- scikit-image's cup of coffee, still (no face);
- a light card held in the middle of the picture with a held-out digit of scikit-learn's set written on it
  in dark ink, ten digits (no face; what the digits model reads).

Beside ``frames.yuv`` (I420, exactly as ``rpicam-vid --codec yuv420`` writes) is ``frames.json``: the size,
the rate, and which frames show what.  Built once and cached.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from edgedq_agent.frames import resize, rgb_to_i420

from edgedq import files
from edgedq.demos.runner import demo_folder

WIDTH, HEIGHT, FPS = 320, 240, 30
SCENES = (("astronaut", 100), ("coffee", 50), ("digits", 50))
FACE_SIZE = 220
DIGIT = 120  # the digit fills the centre square the digits task reads (half the frame's height) ...
CARD = 140  # ... on a card a little larger, so a shaking hand keeps the background out of it


def _background() -> np.ndarray:
    from skimage import data

    gravel = resize(data.gravel(), HEIGHT, WIDTH)
    tint = np.array([0.85, 0.8, 0.7], dtype=np.float32)
    return np.clip(gravel[..., None] * tint, 0, 255).astype(np.uint8)


def _astronaut(count: int) -> list[np.ndarray]:
    from skimage import data

    person = resize(data.astronaut()[20:300, 100:380], FACE_SIZE, FACE_SIZE).astype(np.uint8)
    top = (HEIGHT - FACE_SIZE) // 2
    frames = []
    for x in np.linspace(0, WIDTH - FACE_SIZE, count).astype(int):
        frame = _background()
        frame[top : top + FACE_SIZE, x : x + FACE_SIZE] = person
        frames.append(frame)
    return frames


def _coffee(count: int) -> list[np.ndarray]:
    """The whole picture, as wide as the frame, held still; only the sensor's noise changes.

    (BlazeFace scores some views of it, smaller, shifted or zoomed in, at 0.5 and more: the rim and the foam
    look a little like a face.  Seen whole, it scores about 0.3: no face.)
    """
    from skimage import data

    cup = data.coffee()  # 400 x 600
    height = WIDTH * cup.shape[0] // cup.shape[1]
    still = _background()
    still[(HEIGHT - height) // 2 :][:height] = resize(cup, height, WIDTH).astype(np.uint8)
    rng = np.random.default_rng(1)
    return [np.clip(still + rng.normal(0, 3, still.shape), 0, 255).astype(np.uint8) for _ in range(count)]


def _digit_cards(count: int) -> tuple[list[np.ndarray], list[int]]:
    """Held-out digits (the vision demo's own split), each on a card for count // 10 frames."""
    from sklearn.model_selection import train_test_split

    from edgedq.demos import vision

    images, labels = vision.load_digits()
    _x, x_test, _y, y_test = train_test_split(images, labels, test_size=0.25, stratify=labels, random_state=0)
    chosen = [int(np.flatnonzero(y_test == digit)[0]) for digit in range(10)]
    frames, shown = [], []
    rng = np.random.default_rng(0)
    for index in range(count):
        pick = chosen[index * 10 // count]
        ink = np.zeros((CARD, CARD), dtype=np.float32)  # 0 paper .. 1 ink
        margin = (CARD - DIGIT) // 2
        ink[margin : margin + DIGIT, margin : margin + DIGIT] = resize(x_test[pick][..., 0], DIGIT, DIGIT)
        card = (235 - 205 * np.clip(ink, 0, 1))[..., None].repeat(3, axis=2)
        frame = _background()
        dy, dx = rng.integers(-3, 4, size=2)
        top, left = (HEIGHT - CARD) // 2 + dy, (WIDTH - CARD) // 2 + dx
        frame[top : top + CARD, left : left + CARD] = card.astype(np.uint8)
        frames.append(frame)
        shown.append(int(y_test[pick]))
    return frames, shown


def build() -> tuple[Path, Path]:
    """``(frames.yuv, frames.json)``, built once."""
    folder = demo_folder("vision-stream", {"v": 3, "size": [WIDTH, HEIGHT], "scenes": list(SCENES)})
    stream, labels = folder / "frames.yuv", folder / "frames.json"
    if stream.is_file() and labels.is_file():
        return stream, labels
    counts = dict(SCENES)
    astronaut, coffee = _astronaut(counts["astronaut"]), _coffee(counts["coffee"])
    cards, digits = _digit_cards(counts["digits"])
    frames = [*astronaut, *coffee, *cards]
    files.atomic_write_bytes(stream, b"".join(rgb_to_i420(frame) for frame in frames))
    scenes = ["astronaut"] * len(astronaut) + ["coffee"] * len(coffee) + ["digits"] * len(cards)
    frame_labels = [{"scene": scene, "face": scene == "astronaut"} for scene in scenes]
    for offset, digit in enumerate(digits):
        frame_labels[len(astronaut) + len(coffee) + offset]["digit"] = digit
    made_by = "edgedq.demos.live.vision_stream (scikit-image, scikit-learn)"
    files.atomic_write_json(labels, {"width": WIDTH, "height": HEIGHT, "fps": FPS, "frames": frame_labels,
                                     "made_by": made_by})  # fmt: skip
    return stream, labels


def load_labels(path: Path) -> dict:
    return json.loads(path.read_text())
