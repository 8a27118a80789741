"""`python -m wirecheck.lab ARGS`: the same as `wirecheck lab ARGS`, through the main CLI so
that usage errors exit 3 there too."""

import sys

from wirecheck.cli import app

app(args=["lab", *sys.argv[1:]], prog_name="wirecheck")
