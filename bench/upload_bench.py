"""Upload throughput of edgedq (paramiko, board-verified) against scp, to the same test sshd, alternated."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from rich.table import Table

from edgedq.device import connect
from edgedq.measure.runner import hold_and_push
from edgedq.testing.sshd import Board, make_sshd

ROUNDS = 7


def _edgedq_upload(board: Board, model: Path, workdir: Path, lock: bool = True) -> tuple[float, float, int]:
    """(seconds including connect, seconds of the push alone, bytes sent); a deploy also takes the board's lock."""
    started = time.perf_counter()
    with (
        connect(board.device(workdir=str(workdir))) as connection,
        hold_and_push(connection, [model], 10) if lock else nullcontext(connection.push([model])) as pushed,
    ):
        pass
    return time.perf_counter() - started, pushed.seconds, pushed.sent_bytes


def _scp_upload(board: Board, model: Path, target: Path) -> float:
    sshd = board.sshd
    started = time.perf_counter()
    subprocess.run(
        ["scp", "-q", "-P", str(sshd.port), "-i", str(sshd.client_key), "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={board.home / '.ssh' / 'known_hosts'}", str(model),
         f"{sshd.user}@127.0.0.1:{target}"],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def upload_versus_scp(model: Path) -> Table:
    with tempfile.TemporaryDirectory(prefix="edgedq-upload-bench-") as temp:
        root = Path(temp)
        sshd = make_sshd(root / "sshd")
        home = root / "home"
        (home / ".ssh").mkdir(parents=True)
        (home / ".ssh" / "known_hosts").write_text(sshd.known_hosts_line())
        old_home = os.environ.get("HOME")
        os.environ["HOME"] = str(home)
        try:
            board = Board(sshd, home, root / "inventory.yaml", root / "workdir")
            edgedq_total, edgedq_unlocked, edgedq_push, scp_total = [], [], [], []
            for round_ in range(ROUNDS):  # alternated, each into a fresh folder: every byte is sent
                total, push, sent = _edgedq_upload(board, model, root / f"edgedq-{round_}")
                assert sent == model.stat().st_size
                edgedq_total.append(total)
                edgedq_push.append(push)
                edgedq_unlocked.append(_edgedq_upload(board, model, root / f"bare-{round_}", lock=False)[0])
                scp_total.append(_scp_upload(board, model, root / f"scp-{round_}.tflite"))
            again = [_edgedq_upload(board, model, root / "edgedq-0") for _ in range(ROUNDS)]
        finally:
            sshd.stop()
            if old_home is not None:
                os.environ["HOME"] = old_home
    size_mb = model.stat().st_size / 1e6
    table = Table(title=f"upload of {model.name} ({size_mb:.1f} MB) to a local sshd, {ROUNDS} alternated rounds")
    for column in ("method", "median s", "MB/s", "vs scp", "bytes sent"):
        table.add_column(column, justify="left" if column == "method" else "right")
    scp_s = statistics.median(scp_total)
    rows = [
        ("scp (connect + copy)", scp_s, model.stat().st_size),
        ("edgedq (connect + push + board sha256)", statistics.median(edgedq_unlocked), model.stat().st_size),
        (
            "edgedq as deploy does it (+ the board's lock, taken meanwhile)",
            statistics.median(edgedq_total),
            model.stat().st_size,
        ),
        ("edgedq push alone (connection open)", statistics.median(edgedq_push), model.stat().st_size),
        ("edgedq second, unchanged (connect + lock + check)", statistics.median(a[0] for a in again), again[0][2]),
    ]
    for label, seconds, sent in rows:
        ratio = scp_s / seconds if sent else float("nan")
        table.add_row(label, f"{seconds:.3f}", f"{sent / 1e6 / seconds:.0f}" if sent else "-",
                      f"{ratio:.2f}x" if sent else "-", str(sent))  # fmt: skip
    table.caption = (
        "targets: edgedq connect + push >= 0.9x scp, as deploy does it >= 0.85x; an unchanged deploy sends no "
        "model bytes in < 1 s"
    )
    return table
