"""The layers of edgedq import only downwards (ARCHITECTURE.md), and light commands stay light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGE = ROOT / "edgedq"

# What each part of edgedq may import from edgedq itself (its own modules always).
BASE = {"errors", "files", "quiet"}
ALLOWED = {
    "errors": set(),
    "files": {"errors"},
    "quiet": set(),
    "tflite": BASE,
    "conversion": BASE | {"tflite"},
    "device": {"errors", "files"},
    "testing": {"errors", "device"},
    "measure": BASE | {"tflite", "conversion", "device"},
    "demos": BASE | {"tflite", "conversion", "device", "measure"},
    "store": BASE | {"measure"},
    "tune": BASE | {"tflite", "conversion", "device", "measure"},
    "cli": BASE | {"tflite", "conversion", "device", "measure", "demos", "store", "tune"},
}
# Third-party packages that only some parts may import.
CONFINED = {
    "tensorflow": {"conversion", "demos"},  # demos train their models with Keras
    "keras": {"conversion", "demos"},
    "click": {"cli"},
    "rich": {"cli"},
    "paramiko": {"device"},
    "sqlalchemy": {"store"},
    "matplotlib": {"store"},
}


def imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # from edgedq import files
    return found


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 or relative.stem != "__init__" else ""


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path: Path):
    part = part_of(path)
    for name in imports(path):
        top, _, rest = name.partition(".")
        if top == "edgedq" and rest and part:
            target = rest.split(".")[0]
            if (PACKAGE / target).is_dir() or (PACKAGE / f"{target}.py").is_file():
                assert target == part or target in ALLOWED[part], f"{part} must not import edgedq.{target}"
        if top in CONFINED:
            assert part in CONFINED[top], f"{part} must not import {top} (only {sorted(CONFINED[top])})"


def test_every_part_has_a_rule():
    parts = {part_of(p) for p in sources()} - {""}
    assert parts == set(ALLOWED)


def test_the_rule_catches_a_wrong_import(tmp_path):
    """The check itself: a device module importing the converter is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from edgedq.conversion.pipeline import convert\n")
    assert "edgedq.conversion.pipeline" in imports(bad)


@pytest.mark.parametrize("argv", [["devices", "list"], ["--help"], ["deploy", "--help"]])
def test_light_commands_import_neither_tensorflow_nor_numpy(argv):
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "edgedq.cli", *argv], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "edgedq.device.inventory" in loaded or argv != ["devices", "list"]
    assert not {m for m in loaded if m.split(".")[0] in ("numpy", "tensorflow", "keras", "paramiko")}
