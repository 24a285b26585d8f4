"""``python -m tools.mutants``: see the package's docstring."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import tools.mutants
from tools.mutants import CONFIG, EQUIVALENT
from tools.mutants.copies import _kill_group, live, live_lock
from tools.mutants.session import run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutants", description=tools.mutants.__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--equivalent", type=Path, default=EQUIVALENT)
    parser.add_argument("--target", action="append", help="only targets whose path (or functions) contain this")
    parser.add_argument("--only", action="append", help="only mutants whose key contains this")
    parser.add_argument("--workers", type=int, help="parallel pytest sessions, each in its own copy (default 2)")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per mutant")
    try:
        return run(parser.parse_args())
    except KeyboardInterrupt:
        with live_lock:
            for pid in live:
                _kill_group(pid)
        print("mutants: interrupted (the copies under the work folder may hold a mutant: they are remade next run)")
        return 130


if __name__ == "__main__":
    sys.exit(main())
