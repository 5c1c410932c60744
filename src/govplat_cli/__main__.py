"""``python -m govplat_cli`` is the ``govplat`` command."""

from govplat_cli.main import app

app(prog_name="govplat")
