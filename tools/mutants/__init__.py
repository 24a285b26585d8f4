"""Mutation testing: ``make mutants`` (``python -m tools.mutants [--target TEXT] [--workers N] [--list]``).

Each target of ``configs/mutants.toml`` names a module where a silent bug costs most, optionally the functions to
mutate, and the tests that must catch a bug there.  For every small bug put into that code (a mutant: ``<`` for
``<=``, ``and`` for ``or``, ``n + 1`` for ``n``, a condition negated, a call dropped, ``return None``...) those tests
run in a fresh pytest session; a mutant they pass is a *survivor*: a bug the suite would let through.  Each
survivor is either killed by a new or stronger test, or listed in ``configs/mutants-equivalent.txt`` with a one-line
reason (it behaves exactly as the original).  The run exits 1 while an unreviewed survivor remains.

Why this runner and not mutmut or cosmic-ray: a mutant must reach code that runs in other processes (the agent is
a zipapp built from the source folder and run by ``.venv-device``'s Python, locally or behind the test sshd), so
mutmut 3's in-process trampolines and coverage-based test selection cannot see it; mutmut 2 and cosmic-ray's local
mode edit the working tree in place, which is shared with other people; cosmic-ray's parallel mode clones the
committed HEAD, not the working tree under review.  Here each worker mutates its own copy of the working tree
(``/tmp/edgedq-mutants/wN``, with ``PYTHONPATH`` naming the copy, so pytest, every subprocess and the agent bundle
builder import the copy, which is checked before the run), one mutant per operator site chosen for meaning rather
than every operator swap, restricted to named functions where the tests are expensive, and each mutant has a key
that survives unrelated edits: path, enclosing function, operator, and a hash of the mutated line before and after.

The tests run with ``EDGEDQ_TEST_ASSETS`` (tests/conftest.py): the session fixtures' models and their conversions
are kept in ``WORKDIR/assets`` and reused, so a session neither imports TensorFlow nor converts; the first run
builds them once (a minute or two).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "mutants.toml"
EQUIVALENT = ROOT / "configs" / "mutants-equivalent.txt"
WORKDIR = Path(os.environ.get("EDGEDQ_MUTANTS_DIR", "/tmp/edgedq-mutants"))
LINKED = (".venv", ".venv-device", ".venv-tflite-numpy2", ".cache")  # big, never mutated: linked, not copied
