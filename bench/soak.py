"""Soak: many benches of a small model on a board behind a real link, with real faults thrown in at random.

The board is the sshd in a network namespace (edgedq.testing.netns) with its work folder on a small tmpfs.
Faults: sshd's sessions killed mid-run, the link cut (briefly, or past the 15 s dead-link limit), the disk full
(the model must be uploaded), the lock held by another host on the second link, the store's copy replaced by
other bytes of the same size.  Every run must end as a result that measured the right model (its output
checksums equal the host's for that model and the agent's seed-0 inputs) or as a clear error with its exit
code; none may hang; nothing may be left in the board's tmp/ once the leases have run out.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
from edgedq_agent import inputs as agent_inputs
from rich.table import Table

from edgedq.device import connect
from edgedq.device.ssh.workfolder import LEASE_S
from edgedq.errors import EdgedqError
from edgedq.files import sha256_file
from edgedq.measure.bench import BenchOptions, bench
from edgedq.testing.netns import make_netns_board
from edgedq.testing.sshd import Board

FAULTS = {"none": 0.30, "sshd kill": 0.14, "link cut": 0.14, "disk full": 0.14, "lock held": 0.14, "store lie": 0.14}
HANG_S = 120.0  # a run that has not ended by then is a hang (the longest honest one: a dead link, ~20 s)


def expected_checksums(model: Path) -> dict[str, float]:
    """What the agent must report for ``model``: its outputs on the agent's own seed-0 inputs, on this host."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model), num_threads=1)
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()
    for detail, value in zip(details, agent_inputs.random_inputs(details, agent_inputs.DEFAULT_SEED).values(),
                             strict=True):  # fmt: skip
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    outputs = agent_inputs.with_signature_names(interpreter, interpreter.get_output_details())
    return {  # named as the agent names them
        agent_inputs.names_of(d)[0]: float(np.asarray(interpreter.get_tensor(d["index"]), dtype=np.float64).sum())
        for d in outputs
    }


class Soak:
    def __init__(self, root: Path, models: list[Path]) -> None:
        self.root, self.models = root, models
        self.expected = {model: expected_checksums(model) for model in models}
        self.disk = root / "disk"
        self.disk.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(self.disk)], check=True)
        self.netns = make_netns_board(root / "sshd", links=2)
        home = root / "home"
        (home / ".ssh").mkdir(parents=True)
        lines = [self.netns.sshd.known_hosts_line(host=self.netns.address(link)) for link in (0, 1)]  # type: ignore[union-attr]
        (home / ".ssh" / "known_hosts").write_text("".join(lines))
        os.environ["HOME"] = str(home)
        python = str(Path(__file__).resolve().parents[1] / ".venv-device" / "bin" / "python")
        self.board = Board(self.netns.sshd, home, root / "inventory.yaml", self.disk / "edgedq", python)  # type: ignore[arg-type]

    def close(self) -> None:
        self.netns.stop()
        for _ in range(50):
            if subprocess.run(["umount", str(self.disk)], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)

    def store_copy(self, model: Path) -> Path:
        return self.board.workdir / "store" / sha256_file(model) / model.name

    def inject(self, fault: str, model: Path, undo: list) -> None:
        """Set a fault up (before the run) or schedule it (during the run); ``undo`` gets what ends it."""
        rng = random.random
        if fault == "sshd kill":
            kill = threading.Timer(0.2 + rng() * 1.2, self.netns.sshd.kill_sessions)  # type: ignore[union-attr]
            kill.start()
            undo.append(kill.cancel)  # a run that ended first was not hit: the next one must not be
        elif fault == "link cut":
            lasting = 3.0 if rng() < 0.5 else 22.0
            cut = threading.Timer(0.2 + rng(), self.netns.link_down, args=(0,))
            cut.start()
            undo.append(lambda: (cut.cancel(), cut.join(), time.sleep(max(0.0, lasting - 1.2)), self.netns.link_up(0)))
        elif fault == "disk full":
            with contextlib.suppress(OSError):
                self.store_copy(model).unlink()  # it must be sent again
            filler = self.disk / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True)
            undo.append(lambda: filler.unlink(missing_ok=True))
        elif fault == "lock held":
            other = connect(self.board.device(host=self.netns.address(1)))
            holding = other.hold(30)
            holding.__enter__()
            release = threading.Timer(1 + rng() * 6, lambda: (holding.__exit__(None, None, None), other.close()))
            release.start()
            undo.append(release.join)
        elif fault == "store lie":
            copy = self.store_copy(model)
            if copy.is_file():
                data = bytearray(copy.read_bytes())
                data[len(data) // 2] ^= 0xFF
                copy.write_bytes(bytes(data))

    def one(self, model: Path) -> str:
        """One bench; its outcome: 'ok', 'wrong model', 'exit N', 'hang' or 'internal: ...'."""
        outcome: list[str] = []

        def run() -> None:
            try:
                options = BenchOptions(threads=[1], runs=5, timeout=20, lock_wait=4)
                report = bench([model], self.board.device(), options)
                (result,) = report.results
                if result.error:
                    outcome.append(f"exit {result.error['exit_code']}")
                    return
                got = {name: value["checksum"] for name, value in result.outputs.items()}
                want = self.expected[model]
                right = got.keys() == want.keys() and all(np.isclose(got[k], want[k], rtol=1e-4) for k in want)
                outcome.append("ok" if right else "wrong model")
            except EdgedqError as error:
                outcome.append(f"exit {int(error.exit_code)}")
            except Exception as error:  # a bug: counted, and must be 0
                outcome.append(f"internal: {type(error).__name__}: {error}")

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(HANG_S)
        return outcome[0] if outcome else "hang"


def soak(models: list[Path], runs: int = 200, minutes: float = 12.0, seed: int = 0) -> Table:
    random.seed(seed)
    started, outcomes, faults = time.monotonic(), Counter(), Counter()
    by_fault: dict[str, Counter] = {name: Counter() for name in FAULTS}
    with tempfile.TemporaryDirectory(prefix="edgedq-soak-") as temp:
        rig = Soak(Path(temp), models)
        try:
            for _ in range(runs):
                if time.monotonic() - started > minutes * 60:
                    break
                fault = random.choices(list(FAULTS), weights=list(FAULTS.values()))[0]
                model = random.choice(models)
                undo: list = []
                rig.inject(fault, model, undo)
                outcome = rig.one(model)
                for step in undo:
                    step()
                rig.netns.link_up(0)
                outcomes[outcome.split(":")[0]] += 1
                faults[fault] += 1
                by_fault[fault][outcome.split(":")[0]] += 1
            time.sleep(LEASE_S + 5)  # every session's lease has ended: the board must be clean now
            tmp = rig.board.workdir / "tmp"
            left = [path.name for path in tmp.iterdir()] if tmp.exists() else []
        finally:
            rig.close()
    total = sum(outcomes.values())
    clear = sum(n for key, n in outcomes.items() if key.startswith("exit"))
    table = Table(title=f"soak: {total} benches with faults, {time.monotonic() - started:.0f} s")
    for column in ("fault", "runs", "ok", "clear error (exit code: runs)", "hang", "wrong model", "internal"):
        table.add_column(column, justify="left" if column in ("fault", "clear error (exit code: runs)") else "right")
    for name in FAULTS:
        counts = by_fault[name]
        errors = ", ".join(f"{k.removeprefix('exit ')}: {v}" for k, v in sorted(counts.items()) if k.startswith("exit"))
        table.add_row(name, str(faults[name]), str(counts["ok"]), errors or "-", str(counts["hang"]),
                      str(counts["wrong model"]), str(counts["internal"]))  # fmt: skip
    table.caption = (
        f"runs {total}, faults injected {total - faults['none']}, ended in a clear error {clear}, "
        f"hangs {outcomes['hang']} (target 0), wrong-model results {outcomes['wrong model']} (target 0), "
        f"internal errors {outcomes['internal']} (target 0), files left in the board's tmp/ {len(left)} (target 0)"
    )
    return table
