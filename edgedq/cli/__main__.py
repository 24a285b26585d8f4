"""``python -m edgedq.cli``: the same as the ``edgedq`` command."""

from edgedq.cli import cli

cli()
