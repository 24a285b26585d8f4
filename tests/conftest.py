"""Shared, expensive fixtures (each model is built and converted once per run), and a private edgedq home per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

import pytest

from tests.support import DEVICE_PYTHON, device_runtime_version
from tests.support import models as model_builders

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# EDGEDQ_TEST_ASSETS=DIR (opt-in; `make mutants` sets it): the session fixtures' model files, and their conversions,
# are kept in DIR and reused by later sessions, so a session whose models are there neither imports TensorFlow nor
# converts. Unset (`make test`), every model is built and converted afresh in the session's temporary folders.
ASSETS = Path(os.environ["EDGEDQ_TEST_ASSETS"]) if os.environ.get("EDGEDQ_TEST_ASSETS") else None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The versions the suite ran with, said once here rather than asserted as literals in tests."""
    versions = [f"{name} {_version(name)}" for name in ("tensorflow-cpu", "ai-edge-litert", "numpy", "paramiko")]
    board = device_runtime_version() if DEVICE_PYTHON.exists() else "missing (make setup)"
    return [f"edgedq host: {', '.join(versions)}", f"edgedq board-like python: {DEVICE_PYTHON}, ai-edge-litert {board}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """EDGEDQ_REQUIRE_ARM="bookworm" (make test-arm ARM_FLAVOURS=bookworm): the other board is not asked for."""
    wanted = os.environ.get("EDGEDQ_REQUIRE_ARM", "").replace(",", " ").split()
    if not wanted or "1" in wanted:
        return
    kept, dropped = [], []
    for item in items:
        board = getattr(item, "callspec", None) and item.callspec.params.get("arm")
        (dropped if board and board not in wanted else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Under EDGEDQ_NO_SKIPS (``make test``, ``make test-arm``) a skip is a failure: a green run covered everything.

    Every skip in this suite means something ``make setup`` or the run itself should have provided (a package, a
    mount, a board), so where the Makefile did its part, a skip can only hide lost coverage.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("EDGEDQ_NO_SKIPS") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, and EDGEDQ_NO_SKIPS forbids it: {reason}"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@pytest.fixture(scope="session", autouse=True)
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the run (conversions, agent bundles, datasets), so private homes stay cheap."""
    cache = tmp_path_factory.mktemp("edgedq-cache")
    if ASSETS is not None and (ASSETS / "cache").is_dir():  # the kept conversions; the rest of the cache is new
        shutil.copytree(ASSETS / "cache", cache, dirs_exist_ok=True)
    os.environ["EDGEDQ_CACHE"] = str(cache)
    return cache


def _asset_folder(name: str, default: Callable[[], Path]) -> Path:
    """``DIR/name`` under EDGEDQ_TEST_ASSETS, else ``default()`` (the session's temporary folder)."""
    if ASSETS is None:
        return default()
    (ASSETS / name).mkdir(parents=True, exist_ok=True)
    return ASSETS / name


def _kept(build: Callable[..., Path], path: Path, *args: object) -> Path:
    """``build(path, *args)``; under EDGEDQ_TEST_ASSETS only when ``path`` is not there yet (built beside it, then
    moved into place without replacing one that another session put there meanwhile)."""
    if ASSETS is None:
        return build(path, *args)
    if path.exists():
        return path
    staging = path.with_name(f"staging-{os.getpid()}-{path.name}")
    build(staging, *args)
    try:  # neither replaces what is there: link a file, rename a folder (refused when the target is not empty)
        if staging.is_file():
            os.link(staging, path)
        else:
            os.rename(staging, path)
    except OSError:
        if not path.exists():
            raise
    if staging.is_dir():
        shutil.rmtree(staging)
    else:
        staging.unlink(missing_ok=True)
    return path


@contextlib.contextmanager
def _kept_conversions() -> Iterator[None]:
    """Under EDGEDQ_TEST_ASSETS, what the block converts is cached in ``DIR/cache`` too, for later sessions."""
    if ASSETS is None:
        yield
        return
    session = os.environ["EDGEDQ_CACHE"]
    os.environ["EDGEDQ_CACHE"] = str(ASSETS / "cache")
    try:
        yield
    finally:
        os.environ["EDGEDQ_CACHE"] = session
    shutil.copytree(ASSETS / "cache", session, dirs_exist_ok=True)


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
    folder = _asset_folder("sources", lambda: tmp_path_factory.mktemp("sources"))
    return {
        "cnn": _kept(model_builders.depthwise_cnn, folder / "cnn.keras"),
        "dense": _kept(model_builders.dense_net, folder / "dense.h5"),
        "kws": _kept(model_builders.keyword_spotting_net, folder / "kws_savedmodel"),
        "cnn_calibration": _kept(model_builders.calibration_npz, folder / "cnn_calib.npz", (32, 32, 3)),
    }


@pytest.fixture(scope="session")
def converted(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    """Every mode of the CNN (int8 calibrated), dynamic + float32 of the others."""
    import edgedq

    out = tmp_path_factory.mktemp("converted")
    with _kept_conversions():
        return {
            "cnn": edgedq.convert(
                sources["cnn"], out / "cnn.tflite", list(edgedq.MODES), calibration=sources["cnn_calibration"]
            ),
            "dense": edgedq.convert(sources["dense"], out / "dense.tflite", ["dynamic", "float32"]),
            "kws": edgedq.convert(sources["kws"], out / "kws.tflite", ["dynamic", "float32"]),
        }


@pytest.fixture(scope="session")
def tf_default(sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The CNN as TensorFlow's own Optimize.DEFAULT converts it (its depthwise conv hybrid too, so XNNPACK leaves
    that node out): what edgedq's dynamic-range rewrite is held against."""
    from edgedq.conversion.sources import make_converter, open_source
    from edgedq.conversion.tf_driver import run_converter

    def build(path: Path) -> Path:
        path.write_bytes(run_converter(make_converter(open_source(sources["cnn"])), "tf-default"))
        return path

    folder = _asset_folder("tf-default", lambda: tmp_path_factory.mktemp("tf-default"))
    return {"cnn": _kept(build, folder / "cnn.tflite")}


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
    kept = _asset_folder("probes", lambda: folder)
    identity = _kept(model_builders.identity_classifier, kept / "identity.keras")
    flatten = _kept(model_builders.flatten_net, kept / "flatten.keras", (49, 40, 1))
    with _kept_conversions():
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
