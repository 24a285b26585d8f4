"""A throwaway PostgreSQL cluster from Debian's ``postgresql`` package: made in a temp folder, on a free port,
reached through its own socket folder, stopped and gone at the end.  Nothing touches the machine's own clusters."""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgedq.testing.sshd import free_port


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_postgres(*argv: str) -> subprocess.CompletedProcess:
    """initdb refuses root: the cluster belongs to the package's own postgres user."""
    runner = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else []
    return subprocess.run([*runner, *argv], capture_output=True, text=True, check=True)


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Yield a SQLAlchemy URL of an empty database ``edgedq`` in a new cluster, removed afterwards.

    The cluster lives in its own folder in /tmp (the postgres user cannot enter pytest's root-only folders).
    """
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (make setup installs Debian's postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="edgedq-postgres-"))
    data, sockets = folder / "data", folder / "sockets"
    for path in (folder, data, sockets):
        path.mkdir(parents=True, exist_ok=True)
        shutil.chown(path, "postgres", "postgres")
    port = free_port()
    _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {sockets} -c listen_addresses='' -c fsync=off"
    _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
    try:
        _as_postgres(str(bin_dir / "createdb"), "-h", str(sockets), "-p", str(port), "-U", "postgres", "edgedq")
        yield f"postgresql://postgres@/edgedq?host={sockets}&port={port}"
    finally:
        _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
