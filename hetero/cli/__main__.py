"""``python -m hetero.cli``: the same as the ``hetero`` command."""

from hetero.cli import run

run()
