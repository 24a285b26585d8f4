"""Mutation testing: ``make mutants`` (``python tools/mutants.py [--target TEXT] [--workers N] [--list]``).

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

import argparse
import ast
import contextlib
import dataclasses
import difflib
import hashlib
import io
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "mutants.toml"
EQUIVALENT = ROOT / "configs" / "mutants-equivalent.txt"
WORKDIR = Path(os.environ.get("EDGEDQ_MUTANTS_DIR", "/tmp/edgedq-mutants"))
LINKED = (".venv", ".venv-device", ".venv-tflite-numpy2", ".cache")  # big, never mutated: linked, not copied
WARMUP = "def test_mutants_warmup(sources, converted, probes, tf_default):\n    pass\n"


# -- finding mutants ------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Mutant:
    path: str  # relative to the repository
    function: str  # the enclosing function or class (dotted), or <module>
    operator: str
    edits: tuple[tuple[int, int, str], ...]  # (start, end, replacement) character offsets in the file's text
    line: int
    before: str  # the lines the edits touch, as they are and as mutated
    after: str
    occurrence: int = 0  # among mutants of the same path, function, operator, before and after
    target: int = 0  # index of its target in the config

    @property
    def key(self) -> str:
        digest = hashlib.sha256(f"{_squash(self.before)}\n{_squash(self.after)}\n{self.occurrence}".encode())
        return f"{self.path}::{self.function}::{self.operator}::{digest.hexdigest()[:10]}"

    def apply(self, text: str) -> str:
        for start, end, replacement in sorted(self.edits, reverse=True):
            text = text[:start] + replacement + text[end:]
        return text

    def diff(self) -> str:
        lines = difflib.unified_diff(self.before.splitlines(), self.after.splitlines(), lineterm="", n=0)
        return "\n".join(line for line in list(lines)[2:] if not line.startswith("@@"))


def _squash(text: str) -> str:
    return " ".join(text.split())


COMPARE_FLIPS = {
    "<": "<=",
    "<=": "<",
    ">": ">=",
    ">=": ">",
    "==": "!=",
    "!=": "==",
    "in": "not in",
    "not in": "in",
    "is": "is not",
    "is not": "is",
}
BINARY_SWAPS = {
    ast.Add: ("+", "-"),
    ast.Sub: ("-", "+"),
    ast.Mult: ("*", "/"),
    ast.Div: ("/", "*"),
    ast.FloorDiv: ("//", "*"),
    ast.Mod: ("%", "//"),
    ast.Pow: ("**", "*"),
    ast.BitAnd: ("&", "|"),
    ast.BitOr: ("|", "&"),
    ast.LShift: ("<<", ">>"),
    ast.RShift: (">>", "<<"),
}
_OPERATOR_TOKEN = re.compile(
    r"not\s+in\b|is\s+not\b|\bin\b|\bis\b|\band\b|\bor\b|\*\*=?|//=?|<<=?|>>=?|[-+*/%&|^@<>!=]=?"
)
_SHELL_TEST = re.compile(r"\[ [^\]\n]*? (=|!=|-eq|-ne|-lt|-le|-gt|-ge) [^\]\n]*?\]")
SHELL_FLIPS = {"=": "!=", "!=": "=", "-eq": "-ne", "-ne": "-eq", "-lt": "-le", "-le": "-lt", "-gt": "-ge", "-ge": "-gt"}


class Finder:
    """The mutants of one file's functions (``wanted``: dotted names or their prefixes; empty: everything).

    Left alone: docstrings, annotations, decorators, default values, asserts, and messages (f-strings,
    ``"..." % args``, string concatenation, whatever a ``raise`` builds).  ``shell`` names module-level string
    constants holding POSIX sh scripts: their ``[ ... ]`` tests are flipped too.
    """

    def __init__(self, path: str, text: str, wanted: list[str], shell: list[str]) -> None:
        self.path, self.text, self.wanted, self.shell = path, text, wanted, shell
        self.line_starts = [0]
        for line in text.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))
        self.lines = text.splitlines(keepends=True)
        self.found: list[Mutant] = []

    def offset(self, line: int, col: int) -> int:
        """AST positions count UTF-8 bytes within a line; the text is indexed by characters."""
        return self.line_starts[line - 1] + len(self.lines[line - 1].encode()[:col].decode())

    def span(self, node: ast.AST) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def source(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.text[start:end]

    def run(self) -> list[Mutant]:
        tree = ast.parse(self.text)
        for statement in tree.body:
            self.visit(statement, "<module>")
        self._shell(tree)
        seen: dict[tuple[str, str, str, str], int] = {}
        unique, texts = [], set()
        for mutant in sorted(self.found, key=lambda m: (m.edits[0][0], m.operator)):
            mutated = mutant.apply(self.text)
            if mutated == self.text or mutated in texts:
                continue
            try:
                compile(mutated, self.path, "exec")
            except SyntaxError:
                continue
            texts.add(mutated)
            ident = (mutant.function, mutant.operator, _squash(mutant.before), _squash(mutant.after))
            mutant.occurrence = seen.get(ident, 0)
            seen[ident] = mutant.occurrence + 1
            unique.append(mutant)
        return unique

    # -- walking
    def chosen(self, scope: str) -> bool:
        return not self.wanted or any(scope == w or scope.startswith(w + ".") for w in self.wanted)

    def visit(self, node: ast.AST, scope: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inner = node.name if scope == "<module>" else f"{scope}.{node.name}"
            for statement in _without_docstring(node.body):
                self.visit(statement, inner)
            return
        if isinstance(node, ast.Lambda):
            self.visit(node.body, scope)
            return
        if isinstance(node, (ast.Assert, ast.Raise, ast.JoinedStr, ast.Import, ast.ImportFrom)) or _is_message(node):
            return
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return  # a docstring or a bare string
        if isinstance(node, ast.If) and _is_main_guard(node):
            return
        if isinstance(node, ast.keyword) and node.arg == "strict":
            return  # zip(..., strict=True): a check, like an assert
        if self.chosen(scope):
            self.mutate(node, scope)
        for name, child in ast.iter_fields(node):
            if name in ("annotation", "returns", "decorator_list", "type_comment"):
                continue
            for item in child if isinstance(child, list) else [child]:
                if isinstance(item, ast.AST):
                    self.visit(item, scope)

    # -- the operators
    def add(self, node: ast.AST, scope: str, operator: str, edits: list[tuple[int, int, str]]) -> None:
        first = min(start for start, _, _ in edits)
        last = max(end for _, end, _ in edits)
        line = next(i for i, start in enumerate(self.line_starts) if start > first)  # 1-based line of ``first``
        end_line = next(i for i, start in enumerate(self.line_starts) if start >= last or i == len(self.lines))
        begin, finish = self.line_starts[line - 1], self.line_starts[max(end_line, line)]
        before = self.text[begin:finish]
        after = before
        for start, end, replacement in sorted(edits, reverse=True):
            after = after[: start - begin] + replacement + after[end - begin :]
        self.found.append(Mutant(self.path, scope, operator, tuple(edits), line, before, after))

    def token(self, start: int, end: int, wanted: set[str]) -> tuple[int, int, str] | None:
        """The operator token in the gap ``text[start:end]`` between two operands (parentheses, comments aside)."""
        gap = re.sub(r"#[^\n]*", lambda m: " " * len(m.group()), self.text[start:end])
        for match in _OPERATOR_TOKEN.finditer(gap):
            word = _squash(match.group())
            if word in wanted:
                return start + match.start(), start + match.end(), word
        return None

    def mutate(self, node: ast.AST, scope: str) -> None:
        if isinstance(node, ast.Compare):
            left = node.left
            for right in node.comparators:
                found = self.token(self.span(left)[1], self.span(right)[0], set(COMPARE_FLIPS))
                if found:
                    start, end, word = found
                    self.add(node, scope, "compare", [(start, end, COMPARE_FLIPS[word])])
                left = right
        elif isinstance(node, ast.BoolOp):
            word, other = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            edits = []
            for left, right in zip(node.values, node.values[1:], strict=False):
                found = self.token(self.span(left)[1], self.span(right)[0], {word})
                if found:
                    edits.append((found[0], found[1], other))
            if edits:
                self.add(node, scope, "and-or", edits)
        elif isinstance(node, ast.BinOp) and type(node.op) in BINARY_SWAPS:
            symbol, other = BINARY_SWAPS[type(node.op)]
            found = self.token(self.span(node.left)[1], self.span(node.right)[0], {symbol})
            if found:
                self.add(node, scope, "arithmetic", [(found[0], found[1], other)])
        elif isinstance(node, ast.AugAssign) and type(node.op) in BINARY_SWAPS:
            symbol, other = BINARY_SWAPS[type(node.op)]
            found = self.token(self.span(node.target)[1], self.span(node.value)[0], {symbol + "="})
            if found:
                self.add(node, scope, "augmented", [(found[0], found[1], other + "=")])
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.add(node, scope, "not", [(self.span(node)[0], self.span(node.operand)[0], "")])
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            value = node.value
            new = (not value) if isinstance(value, bool) else value + 1 if isinstance(value, int) else value * 2 or 1.0
            self.add(node, scope, "constant", [(*self.span(node), repr(new))])
        elif isinstance(node, ast.Return) and node.value is not None and not _is_constant(node.value):
            self.add(node, scope, "return-none", [(*self.span(node.value), "None")])
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            self.add(node, scope, "drop-call", [(*self.span(node), "pass")])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
            self.add(node, scope, "min-max", [(*self.span(node.func), "max" if node.func.id == "min" else "min")])
        tests = []
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            tests = [node.test]
        elif isinstance(node, ast.comprehension):
            tests = node.ifs
        for test in tests:  # a comparison is flipped above; ``not x`` loses its ``not``
            if not isinstance(test, ast.Compare) and not (
                isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
            ):
                start, end = self.span(test)
                self.add(test, scope, "negate", [(start, end, f"not ({self.text[start:end]})")])

    def _shell(self, tree: ast.Module) -> None:
        for statement in tree.body:
            if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
                continue
            name = getattr(statement.targets[0], "id", None)
            if name not in self.shell:
                continue
            for node in ast.walk(statement.value):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                    continue
                start, end = self.span(node)
                literal = self.text[start:end]
                if not literal.startswith(('r"""', "r'''")) or literal[4:-3] != node.value:
                    continue  # only raw literals: their text is their value, so offsets map one to one
                for test in _SHELL_TEST.finditer(node.value):
                    at = start + 4 + test.start(1)
                    operator = test.group(1)
                    self.add(node, name, "shell-test", [(at, at + len(operator), SHELL_FLIPS[operator])])


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    is_doc = (
        isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    )
    return body[1:] if is_doc else body


def _is_constant(node: ast.AST) -> bool:
    """``return None`` is no mutant of ``return None``, and of ``return False`` only a weaker one than ``True``."""
    return isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool))


def _is_string(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _is_message(node: ast.AST) -> bool:
    """``"..." % args`` and ``"..." + x``: text for a person, not a decision."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _is_string(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_string(node.left) or _is_string(node.right)
    return False


def _is_main_guard(node: ast.If) -> bool:
    test = node.test
    return isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"


# -- configuration ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Target:
    index: int
    path: str
    tests: list[str]
    functions: list[str]
    shell: list[str]
    baseline_s: float = 0.0
    quiet_s: float = 0.0  # the longest the unmutated session went without output

    @property
    def label(self) -> str:
        return self.path + (f" ({', '.join(self.functions)})" if self.functions else "")


def load_config(path: Path) -> tuple[dict, list[Target]]:
    config = tomllib.loads(path.read_text())
    targets = []
    for index, entry in enumerate(config.pop("target")):
        unknown = set(entry) - {"path", "tests", "functions", "shell"}
        if unknown:
            raise SystemExit(f"{path}: target {entry.get('path')}: unknown keys {sorted(unknown)}")
        targets.append(
            Target(
                index,
                entry["path"],
                list(entry["tests"]),
                list(entry.get("functions", [])),
                list(entry.get("shell", [])),
            )
        )
    return config, targets


def find_mutants(targets: list[Target]) -> list[Mutant]:
    mutants, keys = [], set()
    for target in targets:
        text = (ROOT / target.path).read_text()
        found = Finder(target.path, text, target.functions, target.shell).run()
        missing = [
            f for f in target.functions if not any(m.function == f or m.function.startswith(f + ".") for m in found)
        ]
        if missing:
            raise SystemExit(f"configs/mutants.toml: {target.path} has no mutants in {missing} (renamed?)")
        for mutant in found:
            if mutant.key not in keys:  # a function named by two targets is mutated once, for the first
                keys.add(mutant.key)
                mutant.target = target.index
                mutants.append(mutant)
    return mutants


def load_equivalent(path: Path) -> dict[str, str]:
    """``KEY reason`` lines (``#`` comments and blank lines aside); a key without a reason is refused."""
    reviewed = {}
    for number, line in enumerate(path.read_text().splitlines() if path.exists() else [], 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, reason = line.strip().partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path}:{number}: {key} has no reason")
        reviewed[key] = reason.strip()
    return reviewed


# -- the workers' copies -------------------------------------------------------------------------------------
def tree_files() -> list[str]:
    """The working tree as it is now: tracked files (edited or not) and new ones that are not ignored."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    return [name for name in listed if name and (ROOT / name).is_file() and name.split("/")[0] not in LINKED]


def make_copy(folder: Path, names: list[str]) -> None:
    if folder.exists():
        unmount_below(folder)
        shutil.rmtree(folder)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, folder / name)
    for name in LINKED:
        if (ROOT / name).exists():
            (folder / name).symlink_to(ROOT / name)
    (folder / "tests" / "test_zz_mutants_warmup.py").write_text(WARMUP)


def unmount_below(folder: Path) -> None:
    """A session killed at its timeout may leave a test's tmpfs mounted under its folder."""
    resolved = str(folder.resolve())
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(resolved + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


PROBE = """
import json, os, sys, zipfile
from pathlib import Path
import edgedq, edgedq_agent
from edgedq.device.bundle import build_agent
bundle = zipfile.ZipFile(build_agent().path)
agent = Path(edgedq_agent.__file__).parent
same = all(bundle.read("edgedq_agent/" + p.name) == p.read_bytes() for p in agent.glob("*.py"))
print(json.dumps([edgedq.__file__, edgedq_agent.__file__, same]))
"""


class Worker:
    def __init__(self, number: int, names: list[str], assets: Path) -> None:
        self.root = WORKDIR / f"w{number}"
        self.temp = WORKDIR / f"w{number}-tmp"
        make_copy(self.root, names)
        self.env = {
            **os.environ,
            "PYTHONPATH": f"{self.root}:{self.root / 'device_agents'}",
            "EDGEDQ_TEST_ASSETS": str(assets),
            "PYTHONDONTWRITEBYTECODE": "1",
            "EDGEDQ_NO_SKIPS": "1",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("EDGEDQ_CACHE", None)

    def check_imports(self) -> None:
        """pytest, its subprocesses and the agent bundle must all take the copy's code, not the checkout's."""
        env = {**self.env, "EDGEDQ_CACHE": str(self.temp / "probe-cache")}
        done = subprocess.run(
            [str(self.root / ".venv/bin/python"), "-c", PROBE], cwd=self.root, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"mutants: the import probe failed in {self.root}:\n{done.stderr}")
        host, agent, same = json.loads(done.stdout)
        if not (host.startswith(f"{self.root}/") and agent.startswith(f"{self.root}/device_agents/") and same):
            raise SystemExit(f"mutants: {self.root} does not import its own copy: {host}, {agent}, bundle {same}")
        shutil.rmtree(self.temp / "probe-cache", ignore_errors=True)

    def pytest(self, tests: list[str], timeout: float, stall: float | None = None) -> tuple[str, float, str]:
        """("passed" | "failed" | "timeout", seconds, what failed).  A session is stopped as hung after ``timeout``
        seconds, or after ``stall`` seconds without output (pytest -q prints a character as each test ends).
        Its output is kept in ``last_output``, its longest silence in ``longest_quiet``."""
        argv = [
            str(self.root / ".venv/bin/python"),
            "-m",
            "pytest",
            "-x",
            "-q",
            "-p",
            "no:cacheprovider",
            "--no-header",
            f"--basetemp={self.temp}",
            *tests,
        ]
        unmount_below(self.temp)
        started = time.monotonic()
        process = subprocess.Popen(
            argv,
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        chunks: list[bytes] = []
        heard = [started, 0.0]  # when output last came, the longest silence so far

        def read() -> None:
            assert process.stdout is not None
            for chunk in iter(lambda: os.read(process.stdout.fileno(), 65536), b""):
                now = time.monotonic()
                heard[1] = max(heard[1], now - heard[0])
                heard[0] = now
                chunks.append(chunk)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        status = ""
        with live_lock:
            live.add(process.pid)
        try:
            while not status:
                try:
                    process.wait(timeout=0.2)
                    status = "passed" if process.returncode == 0 else "failed"
                except subprocess.TimeoutExpired:
                    now = time.monotonic()
                    if now - started > timeout or (stall is not None and now - heard[0] > stall):
                        status = "timeout"
        finally:
            _kill_group(process.pid)  # a hung session, or whatever one left running (agents, sshd)
            with live_lock:
                live.discard(process.pid)
        reader.join(10)
        self.longest_quiet = max(heard[1], time.monotonic() - heard[0])
        if status == "timeout":
            unmount_below(self.temp)
        text = b"".join(chunks).decode(errors="replace")
        self.last_output = text
        failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.MULTILINE)
        detail = failed[0] if failed else (text.strip().splitlines() or [""])[-1]
        if process.returncode == 5:
            status, detail = "failed", "no tests ran (check the target's tests)"
        return status, time.monotonic() - started, detail if status != "passed" else ""


live: set[int] = set()  # the process groups of running sessions, killed if the run is interrupted
live_lock = threading.Lock()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# -- the run -------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, timeout, survived, equivalent
    seconds: float
    detail: str


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    load_before = os.getloadavg()
    settings, targets = load_config(args.config)
    if args.target:
        targets = [t for t in targets if any(text in t.label for text in args.target)]
        if not targets:
            raise SystemExit(f"mutants: no target matches {args.target}")
    mutants = find_mutants(targets)
    if args.only:
        mutants = [m for m in mutants if any(text in m.key for text in args.only)]
    reviewed = load_equivalent(args.equivalent)
    if args.list:
        for mutant in mutants:
            mark = "  (equivalent)" if mutant.key in reviewed else ""
            print(f"{mutant.key}  {mutant.path}:{mutant.line}{mark}\n" + _indent(mutant.diff()))
        print(f"{len(mutants)} mutants in {len(targets)} targets")
        return 0

    workers_count = max(1, min(args.workers or int(settings.get("workers", 2)), len(mutants) or 1))
    WORKDIR.mkdir(parents=True, exist_ok=True)
    assets = WORKDIR / "assets"
    names = tree_files()
    workers = [Worker(n, names, assets) for n in range(workers_count)]
    for worker in workers:
        worker.check_imports()
    print(
        f"mutants: {len(mutants)} in {len(targets)} targets, {workers_count} workers on copies in {WORKDIR} "
        f"(load {load_before[0]:.2f})",
        flush=True,
    )

    # The fixtures' models and conversions, once (serially, so that two sessions never build them at once).
    status, seconds, detail = workers[0].pytest(["tests/test_zz_mutants_warmup.py"], timeout=1800)
    if status != "passed":
        print(f"mutants: building the test assets failed ({detail})\n{workers[0].last_output}")
        return 2
    print(f"mutants: test assets ready in {seconds:.0f} s", flush=True)

    # Each target's tests unmutated: they must pass, and their time sets the mutants' timeout.
    factor, extra = float(settings.get("timeout_factor", 3.0)), float(settings.get("timeout_extra_s", 15.0))
    stall_extra = float(settings.get("silence_extra_s", 5.0))
    failures = _in_parallel(
        workers,
        [(t, None) for t in targets if any(m.target == t.index for m in mutants)],
        lambda worker, job: _baseline(worker, job[0]),
    )
    if any(failures):
        for failure in filter(None, failures):
            print(failure)
        return 2

    # Longest first, so that the workers finish together.
    by_index = {t.index: t for t in targets}
    jobs = sorted(mutants, key=lambda m: -by_index[m.target].baseline_s)
    done: list[Outcome] = []
    lock = threading.Lock()

    def one(worker: Worker, mutant: Mutant) -> Outcome:
        target = by_index[mutant.target]
        path = worker.root / mutant.path
        assert worker.root in path.parents and ROOT not in path.parents  # only ever a copy is edited
        original = path.read_text()
        path.write_text(mutant.apply(original))
        try:
            status, seconds, detail = worker.pytest(
                target.tests, factor * target.baseline_s + extra, factor * target.quiet_s + stall_extra
            )
        finally:
            path.write_text(original)
        verdict = {"failed": "killed", "timeout": "timeout"}.get(status)
        if verdict is None:
            verdict, detail = ("equivalent", reviewed[mutant.key]) if mutant.key in reviewed else ("survived", "")
        outcome = Outcome(mutant, verdict, seconds, detail)
        with lock:
            done.append(outcome)
            if verdict == "survived":
                print(f"SURVIVED {mutant.key}  {mutant.path}:{mutant.line}\n{_indent(mutant.diff())}", flush=True)
            if args.verbose or len(done) % 25 == 0 or len(done) == len(jobs):
                elapsed = time.monotonic() - started
                print(f"  [{len(done)}/{len(jobs)}] {elapsed / 60:.1f} min", flush=True)
            if args.verbose:
                print(f"    {verdict:10} {seconds:5.1f}s {mutant.key} {detail[:100]}", flush=True)
        return outcome

    _in_parallel(workers, jobs, one)
    load_after = os.getloadavg()
    return report(
        done, targets, reviewed, mutants, time.monotonic() - started, load_before, load_after, workers_count, args
    )


def _baseline(worker: Worker, target: Target) -> str | None:
    status, seconds, detail = worker.pytest(target.tests, timeout=1800)
    if status != "passed":  # once more: a test that fails now and then must not cost the whole run
        print(f"  baseline of {target.label} failed ({detail}); trying once more", flush=True)
        status, seconds, detail = worker.pytest(target.tests, timeout=1800)
    target.baseline_s, target.quiet_s = seconds, worker.longest_quiet
    print(f"  baseline {seconds:5.1f} s (longest silence {target.quiet_s:.1f} s)  {target.label}", flush=True)
    if status != "passed":
        tail = "\n".join(worker.last_output.strip().splitlines()[-40:])
        return f"mutants: the tests of {target.label} fail unmutated ({status}): {detail}\n{tail}"
    return None


def _in_parallel(workers: list[Worker], jobs: list, work) -> list:
    """``work(worker, job)`` for every job, each worker taking the next job as it frees up; results in job order."""
    pending: queue.Queue = queue.Queue()
    for index, job in enumerate(jobs):
        pending.put((index, job))
    results: list = [None] * len(jobs)
    errors: list[BaseException] = []

    def loop(worker: Worker) -> None:
        while not errors:
            try:
                index, job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = work(worker, job)
            except BaseException as exc:  # noqa: BLE001 - reported below, after the other worker stops
                errors.append(exc)

    threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _indent(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())


def report(done, targets, reviewed, mutants, wall, load_before, load_after, workers, args) -> int:
    counts = {t.index: dict.fromkeys(("killed", "timeout", "equivalent", "survived"), 0) for t in targets}
    for outcome in done:
        counts[outcome.mutant.target][outcome.status] += 1
    out = io.StringIO()
    width = max(len(t.label) for t in targets)
    out.write(f"\n{'target':{width}}  tried  killed  timeout  equivalent  surviving  baseline\n")
    totals = dict.fromkeys(("killed", "timeout", "equivalent", "survived"), 0)
    for target in targets:
        row = counts[target.index]
        tried = sum(row.values())
        if not tried:
            continue
        for name in totals:
            totals[name] += row[name]
        out.write(
            f"{target.label:{width}}  {tried:5}  {row['killed']:6}  {row['timeout']:7}  {row['equivalent']:10}"
            f"  {row['survived']:9}  {target.baseline_s:6.1f} s\n"
        )
    tried = sum(totals.values())
    out.write(
        f"{'total':{width}}  {tried:5}  {totals['killed']:6}  {totals['timeout']:7}  {totals['equivalent']:10}"
        f"  {totals['survived']:9}\n"
    )
    out.write(
        f"\nmutants: {tried} tried, {totals['killed']} killed, {totals['timeout']} timed out, "
        f"{totals['equivalent']} equivalent (reviewed), {totals['survived']} surviving; "
        f"wall time {wall / 60:.1f} min on {workers} workers; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after\n"
    )
    survivors = [o for o in done if o.status == "survived"]
    if survivors:
        out.write(f"\nsurviving mutants: each needs a test that kills it, or a line in {EQUIVALENT.name}:\n")
        for outcome in sorted(survivors, key=lambda o: (o.mutant.path, o.mutant.line)):
            mutant = outcome.mutant
            out.write(f"\n# {mutant.path}:{mutant.line} {mutant.function}\n{_indent(mutant.diff())}\n")
            out.write(f"{mutant.key}  REASON\n")
    generated = {m.key for m in mutants}
    killed_but_listed = [o.mutant.key for o in done if o.status in ("killed", "timeout") and o.mutant.key in reviewed]
    if killed_but_listed:
        out.write(f"\nlisted as equivalent but killed (remove them from {EQUIVALENT.name}):\n")
        out.write("".join(f"  {key}\n" for key in killed_but_listed))
    paths = {t.path for t in targets}
    stale = [key for key in reviewed if key.split("::")[0] in paths and key not in generated and not args.only]
    if stale and not args.target:
        out.write(f"\nlisted in {EQUIVALENT.name} but no longer made (the code changed: review and remove):\n")
        out.write("".join(f"  {key}\n" for key in stale))
    print(out.getvalue(), end="")
    record = {
        "wall_s": wall,
        "workers": workers,
        "load": [load_before, load_after],
        "totals": totals,
        "outcomes": [
            {
                "key": o.mutant.key,
                "status": o.status,
                "seconds": round(o.seconds, 2),
                "detail": o.detail[:300],
                "line": o.mutant.line,
                "diff": o.mutant.diff(),
            }
            for o in done
        ],
    }
    (WORKDIR / "report.json").write_text(json.dumps(record, indent=1))
    (WORKDIR / "report.txt").write_text(out.getvalue())
    return 1 if survivors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
