"""`wirecheck lab`: up, down, run, scenarios, shell.

Mounted by wirecheck/cli.py as `app.add_typer(lab_app, name="lab")`; also runnable as
`python -m wirecheck.lab`. Anything that stops the lab from working (no root, no
`ip netns`, a failed step) is one line on stderr and exit code 3, never a traceback.
"""

# No `from __future__ import annotations` here: typer 0.23 (the last release for Python 3.9)
# reads the commands' Annotated options from the raw signature on 3.9, where a string
# annotation hides them (names, help, callbacks). So annotations here are evaluated at
# import: Optional[X], not X | None, until 3.9 is dropped.

import contextlib
import json
import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn, Optional

import typer

from wirecheck.errors import WirecheckError
from wirecheck.lab.names import (
    DEFAULT_LAB,
    DEFAULT_SCENARIO,
    VM_PRIMARY_IP,
    VM_SECONDARY_IP,
    LabNames,
    lab_names,
)
from wirecheck.model import EXIT_UNKNOWN, PLATFORM_ADDRESS

if TYPE_CHECKING:
    from wirecheck.lab.lab import Lab
    from wirecheck.lab.scenarios import Scenario

# The lab's machinery (lab, run, scenarios, preflight) is imported inside the commands:
# this module is loaded by every `wirecheck` command line, most of which never build a lab.

lab_app = typer.Typer(
    name="lab",
    help="A simulated Azure host in network namespaces, with fault scenarios (Linux, as root).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

NameOption = Annotated[
    str,
    typer.Option(
        "--name", help="Lab name: its namespaces are wcl-NAME-*; labs with different names coexist."
    ),
]
ScenarioOption = Annotated[
    str, typer.Option("--scenario", "-s", help="A scenario from `wirecheck lab scenarios`.")
]


class _Terminated(BaseException):
    """SIGTERM or SIGHUP, raised so that `finally` blocks tear the lab down."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    def _raise(signum: int, _frame: Optional[FrameType]) -> None:
        raise _Terminated(signum)

    previous = {sig: signal.signal(sig, _raise) for sig in _ENDING_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Teardown is short and must finish: a second Ctrl-C or SIGTERM does not cut it off."""
    signals = (signal.SIGINT, *_ENDING_SIGNALS)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _die(message: str) -> NoReturn:
    typer.echo(f"wirecheck lab: {message}", err=True)
    raise typer.Exit(EXIT_UNKNOWN)


def _say(message: str) -> None:
    typer.echo(f"lab: {message}", err=True)


def _exit_code_of(interrupt: BaseException) -> int:
    return 128 + (interrupt.signum if isinstance(interrupt, _Terminated) else signal.SIGINT)


@contextlib.contextmanager
def _lab_errors() -> Iterator[None]:
    try:
        yield
    except WirecheckError as exc:
        _die(str(exc))


def _prepare(name: str, scenario_name: Optional[str] = None) -> tuple["Lab", Optional["Scenario"]]:
    from wirecheck.lab.lab import Lab
    from wirecheck.lab.preflight import preflight
    from wirecheck.lab.scenarios import scenario as find_scenario

    preflight()
    chosen = find_scenario(scenario_name) if scenario_name is not None else None
    return Lab(lab_names(name)), chosen


FlapOption = Annotated[
    Optional[str],
    typer.Option(
        "--flap",
        help="Switch the scenario's firewall rules on and off: ON/PERIOD[+OFFSET] seconds, "
        "e.g. 8/30 (on 8 s of every 30 s; healthy first).",
    ),
]


@lab_app.command()
def up(
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    name: NameOption = DEFAULT_LAB,
    flap: FlapOption = None,
) -> None:
    """Build the lab (after removing any leftovers of an earlier one) and leave it running."""
    from wirecheck.lab.flap import parse_flap
    from wirecheck.lab.run import vm_command
    from wirecheck.lab.watch import up_flapping

    with _lab_errors():
        lab, chosen = _prepare(name, scenario)
        assert chosen is not None
        flapping = parse_flap(flap) if flap is not None else None
        try:
            with _signals_raise():
                if flapping is not None:
                    removed, schedule = up_flapping(lab, chosen, flapping)
                    _say(f"the fault flaps ({flapping.describe()}); switches logged to {schedule}")
                else:
                    removed = lab.up(chosen)
        except (KeyboardInterrupt, _Terminated) as interrupt:
            _say("interrupted; the lab was torn down")
            raise typer.Exit(_exit_code_of(interrupt)) from None
    if removed:
        _say(f"removed leftovers first: {', '.join(removed)}")
    names = lab.names
    typer.echo(
        f"lab {names.lab!r} is up with scenario {chosen.name!r}: {chosen.description}\n"
        f"  VM namespace    {names.vm} (eth0 {VM_PRIMARY_IP} primary, eth1 {VM_SECONDARY_IP})\n"
        f"  host namespace  {names.host} ({PLATFORM_ADDRESS}: WireServer, 32526, DNS, IMDS)\n"
        f"  a shell in it   wirecheck lab shell{_name_flag(names)}\n"
        # Only inside that shell: on the machine itself, --force would probe the real
        # platform address.
        f"  in that shell   {shlex.join(vm_command(chosen, []))}\n"
        f"  simulator logs  {names.logs_dir}\n"
        f"  tear it down    wirecheck lab down{_name_flag(names)}"
    )


@lab_app.command()
def down(
    name: NameOption = DEFAULT_LAB,
    purge: Annotated[
        bool, typer.Option(help="Also delete the state directory (logs and reports).")
    ] = False,
) -> None:
    """Tear the lab down: processes, namespaces (and the links and rules in them), /etc/netns."""
    with _lab_errors():
        lab, _ = _prepare(name)
        with _shielded():
            removed = lab.down(purge=purge)
    if removed:
        typer.echo(f"lab {name!r} removed: {', '.join(removed)}")
    else:
        typer.echo(f"lab {name!r}: nothing to remove")


@lab_app.command(context_settings={"help_option_names": ["-h", "--help"]})
def run(
    scenario: ScenarioOption = DEFAULT_SCENARIO,
    name: NameOption = DEFAULT_LAB,
    run_options: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="[-- RUN-OPTIONS]",
            help="Options for `wirecheck run`, after `--` (e.g. -- --timeout 2 -o json).",
        ),
    ] = None,
) -> None:
    """Build the lab, run wirecheck in its VM against 168.63.129.16, print, tear down.

    Exits with wirecheck's exit code.
    """
    from wirecheck.lab.run import run_wirecheck

    options = list(run_options or [])
    with _lab_errors():
        lab, chosen = _prepare(name, scenario)
        assert chosen is not None
        names = lab.names
        _say(f"building scenario {chosen.name!r}: {chosen.description}")
        code = EXIT_UNKNOWN
        interrupted: Optional[BaseException] = None
        try:
            with _signals_raise():
                lab.up(chosen)
                result = run_wirecheck(
                    names,
                    chosen,
                    ["--output-dir", str(names.report_dir), *options],
                    capture=False,
                )
                code = result.exit_code
        except (KeyboardInterrupt, _Terminated) as interrupt:
            interrupted = interrupt
        finally:
            with _shielded():
                lab.down()
    if interrupted is not None:
        _say("interrupted; the lab was torn down")
        raise typer.Exit(_exit_code_of(interrupted))
    _say(f"torn down; reports in {names.report_dir}, simulator logs in {names.logs_dir}")
    _say_verdict(names, chosen)
    raise typer.Exit(code)


@lab_app.command(context_settings={"help_option_names": ["-h", "--help"]})
def watch(
    scenario: ScenarioOption = "drop-32526-local",
    name: NameOption = DEFAULT_LAB,
    flap: Annotated[
        str,
        typer.Option(
            "--flap",
            help="The fault's schedule: ON/PERIOD[+OFFSET] seconds (on ON s of every PERIOD s).",
        ),
    ] = "8/30",
    duration: Annotated[
        float, typer.Option(min=1, max=86400, help="How long to watch, seconds.")
    ] = 75.0,
    watch_options: Annotated[
        Optional[list[str]],
        typer.Argument(
            metavar="[-- WATCH-OPTIONS]",
            help="Options for `wirecheck watch`, after `--` (e.g. -- --interval 1 --only "
            "tcp-80,tcp-32526).",
        ),
    ] = None,
) -> None:
    """Build the lab with the scenario's fault flapping, watch from its VM, tear down, and
    set the failure windows found against the schedule applied.

    Exits with watch's exit code.
    """
    from wirecheck.lab.flap import parse_flap
    from wirecheck.lab.watch import run_watch, up_flapping, verdict_lines

    with _lab_errors():
        flapping = parse_flap(flap)
        lab, chosen = _prepare(name, scenario)
        assert chosen is not None
        names = lab.names
        _say(f"building scenario {chosen.name!r} with its fault flapping ({flapping.describe()})")
        interrupted: Optional[BaseException] = None
        result = None
        try:
            with _signals_raise():
                _, schedule = up_flapping(lab, chosen, flapping)
                result = run_watch(
                    names,
                    chosen,
                    duration,
                    list(watch_options or []),
                    schedule=schedule,
                    capture=False,
                )
        except (KeyboardInterrupt, _Terminated) as interrupt:
            interrupted = interrupt
        finally:
            with _shielded():
                lab.down()
    if interrupted is not None or result is None:
        _say("interrupted; the lab was torn down")
        raise typer.Exit(_exit_code_of(interrupted or KeyboardInterrupt()))
    _say(f"torn down; the watch's files are in {names.report_dir}")
    for line in verdict_lines(result, chosen):
        _say(line)
    raise typer.Exit(result.exit_code)


def _say_verdict(names: LabNames, chosen: "Scenario") -> None:
    """Compare the run's JSON report with what the scenario expects, in a line or a few."""
    from wirecheck.lab.scenarios import compare

    reports = sorted(names.report_dir.glob("*.json"))
    if not reports:
        return
    try:
        report = json.loads(reports[0].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    mismatches = compare(chosen, report)
    if not mismatches:
        _say(f"every verdict is what scenario {chosen.name!r} expects")
        return
    _say(f"differs from what scenario {chosen.name!r} expects:")
    for mismatch in mismatches:
        typer.echo(f"  {mismatch}", err=True)


@lab_app.command()
def scenarios() -> None:
    """The scenarios: name, what they simulate, the verdicts and first cause they expect."""
    from wirecheck.lab.scenarios import SCENARIOS

    width = max(len(s.name) for s in SCENARIOS)
    for item in SCENARIOS:
        typer.echo(f"{item.name:<{width}}  {item.description}")
        typer.echo(f"{'':<{width}}  expect: {item.summary()}")
        typer.echo(f"{'':<{width}}  first cause: {item.diagnosis.describe()}")


@lab_app.command()
def shell(name: NameOption = DEFAULT_LAB) -> None:
    """A shell inside the VM namespace of a lab that is up (`exit` leaves; the lab stays)."""
    from wirecheck.lab.lab import child_env
    from wirecheck.lab.run import in_vm, vm_command
    from wirecheck.lab.scenarios import scenario

    with _lab_errors():
        lab, _ = _prepare(name)
        if not lab.is_up():
            _die(
                f"no lab named {name!r} is up; start one with "
                f"`wirecheck lab up{_name_flag(lab.names)}`"
            )
        state = lab.state() or {}
        chosen = scenario(str(state.get("scenario", DEFAULT_SCENARIO)))
    command = os.environ.get("SHELL") or "/bin/sh"
    _say(
        f"a shell in {lab.names.vm} (scenario {chosen.name!r}); try "
        f"`{shlex.join(vm_command(chosen, []))}`; `exit` leaves, the lab stays up"
    )
    # The same entry as wirecheck's runs: the VM's /etc layer and DHCP lease.
    code = subprocess.call(in_vm(lab.names, [command]), env=child_env(chosen.env))
    raise typer.Exit(code)


def _name_flag(names: LabNames) -> str:
    return "" if names.lab == DEFAULT_LAB else f" --name {names.lab}"
