"""typer's CliRunner with stdout and stderr apart, on every click wirecheck runs with.

click 8.2 and later (and the click that typer 0.24+ vendors) always capture stderr apart;
click 8.1, the last for Python 3.9, mixes it into stdout unless told not to. Tests read
`result.stdout` and `result.stderr`; `result.output` is stdout alone on click 8.1.
"""

from __future__ import annotations

import inspect

from typer.testing import CliRunner


def cli_runner() -> CliRunner:
    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click 8.1 only
    return CliRunner()
