"""The ``clickstream`` console script. A plain install (the emitter library) has the script but
not the command line's dependencies: say which extra brings them instead of a traceback."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        # Optional dependencies (typer, rich, Beam): imported only when the command runs.
        from clickstream.app.cli import app
    except ModuleNotFoundError as exc:
        sys.exit(f"the clickstream command needs the [cli] extra ({exc.name} is not installed): "
                 "pip install 'clickstream[cli]'")  # fmt: skip
    app()
