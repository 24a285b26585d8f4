"""Running the CLI in-process the way the tests want it: never a traceback, stdout and stderr apart."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from edgedq.cli import cli


def run(*args: object) -> Result:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def run_json(*args: object) -> dict[str, Any]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
