"""The vision demo: a digit classifier trained here on scikit-learn's digits, then measured on the device.

Data: the 1797 8x8 digits that ship inside scikit-learn (no download), upsampled
to 32x32 (bilinear) and scaled to [0, 1]; a stratified 25 % held out for testing.
Training copies are augmented with random shifts (up to 3 px) and rotations (up
to 12 degrees).  The trained model is cached by its settings.
"""

from __future__ import annotations

import numpy as np

from edgedq.demos.runner import Trained, demo_folder, save_npy, save_npz, train_keras
from edgedq.measure.datasets import Dataset, save_dataset

SIZE = 32
SAMPLES = 6
SETTINGS = {"quick": {"copies": 2, "epochs": 8}, "full": {"copies": 4, "epochs": 15}}


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(N, 32, 32, 1) float32 in [0, 1] and labels 0-9."""
    from scipy import ndimage
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = np.stack([ndimage.zoom(image / 16.0, SIZE / 8, order=1) for image in digits.images])
    return np.clip(images, 0, 1).astype(np.float32)[..., None], digits.target.astype(np.int64)


def augment(images: np.ndarray, copies: int, seed: int = 0) -> np.ndarray:
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(copies):
        for image in images[..., 0]:
            turned = ndimage.rotate(image, rng.uniform(-12, 12), reshape=False, order=1)
            moved = ndimage.shift(turned, rng.uniform(-3, 3, size=2), order=1)
            out.append(np.clip(moved, 0, 1))
    return np.stack(out).astype(np.float32)[..., None]


def build_model():
    import keras

    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),  # where a stroke is matters for digits: no global pooling
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10),
        ]
    )


def train(quick: bool = True) -> Trained:
    from sklearn.model_selection import train_test_split

    settings = SETTINGS["quick" if quick else "full"]
    folder = demo_folder("vision", {"v": 2, **settings})
    images, labels = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=0.25, stratify=labels, random_state=0)
    x_aug = np.concatenate([x_train, augment(x_train, settings["copies"])])
    y_aug = np.concatenate([y_train] * (1 + settings["copies"]))
    source = train_keras(folder / "digits.keras", build_model, x_aug, y_aug, settings["epochs"], 2e-3)
    calibration = folder / "calibration.npz"
    save_npz(calibration, x=x_train[:200])
    test: Dataset = save_dataset({"x": x_test, "y": y_test}, [str(d) for d in range(10)], "digits (held out)", None)
    samples = save_npy(folder / "samples.npy", x_test[:SAMPLES])
    return Trained(
        name="vision",
        source=source,
        calibration=calibration,
        test=test,
        samples=samples,
        sample_labels=y_test[:SAMPLES].tolist(),
        classes=[str(d) for d in range(10)],
        notes=[
            f"scikit-learn digits upsampled to {SIZE}x{SIZE}; trained on {len(x_train)} (+{settings['copies']}x "
            f"augmented), tested on {len(x_test)} held-out images"
        ],
    )
