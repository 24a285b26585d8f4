"""Shared, expensive fixtures (each model is built and converted once per run), and a private edgedq home per test."""

from __future__ import annotations

import os
import time
from importlib import metadata
from pathlib import Path

import pytest

from tests.support import DEVICE_PYTHON, device_runtime_version
from tests.support import models as model_builders

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The versions the suite ran with, said once here rather than asserted as literals in tests."""
    versions = [f"{name} {_version(name)}" for name in ("tensorflow-cpu", "ai-edge-litert", "numpy", "paramiko")]
    board = device_runtime_version() if DEVICE_PYTHON.exists() else "missing (make setup)"
    return [f"edgedq host: {', '.join(versions)}", f"edgedq board-like python: {DEVICE_PYTHON}, ai-edge-litert {board}"]


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@pytest.fixture(scope="session", autouse=True)
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the run (conversions, agent bundles, datasets), so private homes stay cheap."""
    cache = tmp_path_factory.mktemp("edgedq-cache")
    os.environ["EDGEDQ_CACHE"] = str(cache)
    return cache


@pytest.fixture(autouse=True)
def edgedq_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own results folder and an empty inventory: the user's are never read or written."""
    home = tmp_path / "edgedq-home"
    monkeypatch.setenv("EDGEDQ_HOME", str(home))
    monkeypatch.setenv("EDGEDQ_INVENTORY", str(tmp_path / "no-inventory.yaml"))
    monkeypatch.delenv("EDGEDQ_LOCAL_PYTHON", raising=False)
    return home


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sources")
    return {
        "cnn": model_builders.depthwise_cnn(folder / "cnn.keras"),
        "dense": model_builders.dense_net(folder / "dense.h5"),
        "kws": model_builders.keyword_spotting_net(folder / "kws_savedmodel"),
        "cnn_calibration": model_builders.calibration_npz(folder / "cnn_calib.npz", (32, 32, 3)),
    }


@pytest.fixture(scope="session")
def converted(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    """Every mode of the CNN (int8 calibrated), dynamic + float32 of the others."""
    import edgedq

    out = tmp_path_factory.mktemp("converted")
    return {
        "cnn": edgedq.convert(
            sources["cnn"], out / "cnn.tflite", list(edgedq.MODES), calibration=sources["cnn_calibration"]
        ),
        "dense": edgedq.convert(sources["dense"], out / "dense.tflite", ["dynamic", "float32"]),
        "kws": edgedq.convert(sources["kws"], out / "kws.tflite", ["dynamic", "float32"]),
    }


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """One real OpenSSH server on 127.0.0.1 for the whole run (its own host key and client key)."""
    from edgedq.testing.sshd import make_sshd

    server = make_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture
def board(sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A board entry on the test sshd, a HOME whose known_hosts trusts it, and an inventory naming it."""
    from edgedq.testing.sshd import Board

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "known_hosts").write_text(sshd.known_hosts_line())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return Board(sshd, home, tmp_path / "inventory.yaml", tmp_path / "board-workdir", str(DEVICE_PYTHON)).write()


@pytest.fixture(scope="session")
def probes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Float32 models whose outputs are known: an identity classifier and a flatten net for the front end."""
    import edgedq

    folder = tmp_path_factory.mktemp("probes")
    identity = model_builders.identity_classifier(folder / "identity.keras")
    flatten = model_builders.flatten_net(folder / "flatten.keras", (49, 40, 1))
    return {
        "identity": edgedq.convert(identity, folder / "identity.tflite", ["float32"]).variant("float32").path,
        "flatten": edgedq.convert(flatten, folder / "flatten.tflite", ["float32"]).variant("float32").path,
    }


@pytest.fixture
def tmpfs(tmp_path: Path):
    """Mount small tmpfs folders for the test (a full disk, a read-only one); unmounted afterwards."""
    import shutil
    import subprocess

    mounted: list[Path] = []

    def mount(name: str, options: str, source: str = "tmpfs") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        if shutil.which("mount") is None:
            pytest.skip("no mount command")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, source, str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:  # a board-side process of a closed session may take a moment to leave it
        for _ in range(100):
            if subprocess.run(["umount", str(folder)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", str(folder)], check=True)
