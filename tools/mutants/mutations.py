"""Finding the mutants of a module: the operators flipped, the calls dropped, each with a key that lasts; the
configuration that names the modules and their tests, and the reviewed equivalents."""

from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
import re
from pathlib import Path

import tomllib

from tools.mutants import ROOT


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
