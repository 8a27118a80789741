"""Console-script entry point, kept free of heavy imports.

`wirecheck --version` is answered here without importing typer, rich or the checks;
everything else goes to the CLI.
"""

from __future__ import annotations

import sys
import time

from wirecheck import __version__


def main() -> None:
    started = time.monotonic()  # the run's deadline counts from here, start-up included
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(f"wirecheck {__version__}\n")
        return
    from wirecheck.cli import main as cli_main

    cli_main(started)
