"""Console-script entry point, kept free of heavy imports.

`wirecheck --version` is answered here without importing typer, rich or the checks;
everything else goes to the CLI. Here, too, the process is made safe to run from
anywhere: closed standard streams, a pipe closed early, a terminal that is not UTF-8,
Ctrl-C or SIGTERM at any moment (one line, exit 130 or 143, no traceback).
"""

from __future__ import annotations

import os
import sys
import time

from wirecheck import __version__


def main() -> None:
    started = time.monotonic()  # the run's deadline counts from here, start-up included
    try:
        from wirecheck.report.interrupts import Interrupted, install, raise_if_signalled

        install()
    except KeyboardInterrupt:
        _stop(130)
    try:
        try:
            _standard_streams()
            if sys.argv[1:] == ["--version"]:
                _write(f"wirecheck {__version__}\n")
                return
            from wirecheck.cli import main as cli_main

            cli_main(started)
        finally:
            raise_if_signalled()  # one that landed in a callback and was swallowed there
    except Interrupted as interrupt:
        _stop(interrupt.exit_code)
    except KeyboardInterrupt:  # a Ctrl-C that Python raised itself
        _stop(130)


def _standard_streams() -> None:
    """A closed stdin, stdout or stderr (`>&-`) becomes /dev/null, so that no file or socket
    opened later takes its number (a child would write into it); text that cannot be
    encoded (an ASCII-only terminal) is escaped rather than fatal."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # the lowest free number is this one, unless it was not free
                os.dup2(opened, fd)
                os.close(opened)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _write(text: str) -> None:
    if sys.stdout is not None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:
            silence_stdout()


def silence_stdout() -> None:
    """stdout's reader went away (`| head -1`): what is left to print goes nowhere, and the
    exit code stays the verdict (Python would exit 120 failing to flush at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno() if sys.stdout is not None else 1)
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _stop(code: int) -> None:
    """One line on stderr, and the exit code of the signal (128 + its number)."""
    try:
        if sys.stderr is not None:
            sys.stderr.write("\nwirecheck: interrupted\n")
            sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)  # now: daemon threads, a half-read pipe or a finalizer must not add a word
