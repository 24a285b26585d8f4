"""The README is the manual: every command and option is in it, its exit codes are the real ones, its example runs."""

from __future__ import annotations

import re

import click
import pytest

from edgedq.cli import cli
from edgedq.errors import ExitCode
from tests.support import ROOT

README = (ROOT / "README.md").read_text()


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[str, click.Command]]:
    found = [(" ".join(path), group)] if path else []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += commands(command, (*path, name))
        else:
            found.append((" ".join((*path, name)), command))
    return found


def section(command: str) -> str:
    """The README's text under the heading ``edgedq COMMAND``, up to the next heading of its level or above."""
    match = re.search(rf"^(#+) `edgedq {re.escape(command)}`\n", README, re.MULTILINE)
    assert match, f"the README has no heading for 'edgedq {command}'"
    level = len(match.group(1))
    rest = README[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


@pytest.mark.parametrize(("name", "command"), commands(), ids=[name for name, _ in commands()])
def test_every_command_and_option_is_documented(name, command):
    text = section(name)
    for param in command.params:
        for option in (o for o in param.opts if o.startswith("--")):
            assert option in text, f"'edgedq {name}' documents no {option}"


def test_the_exit_code_table_is_the_enum():
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", README, re.MULTILINE)
    assert [int(code) for code, _ in rows] == [int(code) for code in ExitCode]


def test_the_readme_names_the_test_command():
    assert "make test" in README and "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_python_api_example_runs(tmp_path, monkeypatch):
    """The README's Python API block, executed as it is in an empty folder."""
    api = README[README.index("## Python API") :]
    (block,) = re.findall(r"```python\n(.*?)```", api[: api.index("\n## ", 1)], re.DOTALL)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md (Python API)", "exec"), namespace)  # noqa: S102 - our own documentation
    report, deployed = namespace["report"], namespace["deployed"]
    assert report.ok and deployed.ok  # type: ignore[attr-defined]
    assert [r.model for r in report.results] == [str(namespace["float32"]), str(namespace["dynamic"])]  # type: ignore[attr-defined]
