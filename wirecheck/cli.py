"""The command line: arguments -> run config -> session -> renderers -> exit code.

With console.py (rich's rendering), the only module that prints or exits (`wirecheck
lab`'s own commands are in lab/cli.py). Heavy modules (dnspython, rich's live display,
the checks) are imported inside the commands so `--version` and `--help` stay instant.
"""

# No `from __future__ import annotations` here: typer 0.23 (the last release for Python 3.9)
# reads the commands' Annotated options from the raw signature on 3.9, where a string
# annotation hides them (names, help, callbacks). So annotations here are evaluated at
# import: Optional[X], not X | None, until 3.9 is dropped.

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional

import typer
from typer.core import TyperGroup

from wirecheck import __version__
from wirecheck.model import (
    EXIT_NOT_WRITTEN,
    EXIT_UNKNOWN,
    PLATFORM_ADDRESS,
    Ports,
    Report,
    RunConfig,
)
from wirecheck.strenum import StrEnum

if TYPE_CHECKING:
    from wirecheck.report.formats import Writer
    from wirecheck.system import System
    from wirecheck.watch.loop import Stop, WatchEvent


# click's UsageError, found through a public class: typer may vendor its own click.
_USAGE_ERROR: type[Exception] = next(
    k for k in typer.BadParameter.__mro__ if k.__name__ == "UsageError"
)


@contextlib.contextmanager
def _usage_errors_are_unknown() -> Iterator[None]:
    # click exits 2 on a bad option, which here means "some check failed" (exit codes).
    try:
        yield
    except _USAGE_ERROR as exc:
        setattr(exc, "exit_code", EXIT_UNKNOWN)  # noqa: B010 - the attribute is not typed here
        raise


class _Group(TyperGroup):
    """Exit 3 (could not run), not click's 2, on any usage error, at any level."""

    def make_context(
        self, info_name: Optional[str], args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        with _usage_errors_are_unknown():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _usage_errors_are_unknown():
            return super().invoke(ctx)


@dataclass(frozen=True)
class Seams:
    """What a test may replace: pass one as `obj` to typer's CliRunner.invoke.

    None keeps the real thing (the DMI asset tag, the real machine, report/files.py's
    write_atomic). `started`: the time.monotonic() the command started (entry.main); the
    deadline counts from it.
    """

    read_asset_tag: Optional[Callable[[], Optional[str]]] = None
    system: Optional["System"] = None
    started: Optional[float] = None
    writer: Optional["Writer"] = None


app = typer.Typer(
    cls=_Group,
    name="wirecheck",
    help="Can this Azure VM talk to the platform address 168.63.129.16? If not: why, and the fix.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class TraceEngine(StrEnum):
    AUTO = "auto"
    RAW = "raw"
    KERNEL = "kernel"


TraceEngineOption = Annotated[
    TraceEngine,
    typer.Option(help="TCP traceroute engine; auto: raw only where the GuestProxyAgent is."),
]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def _ipv4_target(value: str) -> str:
    from wirecheck.addresses import is_ipv4

    if not is_ipv4(value):
        raise typer.BadParameter(
            f"{value!r} is not an IPv4 address; give one such as {PLATFORM_ADDRESS} "
            "(names are not resolved: the address probed is the one typed)"
        )
    return value


def _finite_seconds(value: float) -> float:
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number of seconds")
    return value


# Options `run` and `bundle` share: the same target, deadline, guard and ports.
TargetOption = Annotated[
    str,
    typer.Option(
        help="IPv4 address to probe. An explicit target is always honoured.",
        callback=_ipv4_target,
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        min=0.1,
        max=300,
        callback=_finite_seconds,
        help="One deadline for the checks, start-up included, seconds.",
    ),
]
ForceOption = Annotated[
    bool, typer.Option(help="Probe the platform address even if this is not an Azure VM.")
]
PortOption = Annotated[int, typer.Option(hidden=True)]  # tests and the lab move the ports


def _ids(value: Optional[str]) -> frozenset[str]:
    return frozenset(part.strip() for part in (value or "").split(",") if part.strip())


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"wirecheck {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    """Run with no command to run all checks (same as `wirecheck run`)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run, ctx)


@app.command()
def run(
    ctx: typer.Context,
    target: TargetOption = PLATFORM_ADDRESS,
    only: Annotated[Optional[str], typer.Option(help="Comma-separated check ids to run.")] = None,
    skip: Annotated[Optional[str], typer.Option(help="Comma-separated check ids to skip.")] = None,
    timeout: TimeoutOption = 5.0,
    output_dir: Annotated[Path, typer.Option(help="Where the report files are written.")] = Path(
        "."
    ),
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="What to print on stdout.")
    ] = OutputFormat.TABLE,
    quiet: Annotated[bool, typer.Option(help="Print one summary line only.")] = False,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Do not write report files.")
    ] = False,
    formats: Annotated[
        Optional[list[str]],
        typer.Option(
            "--format",
            help="Extra report files: junit, prometheus, html (repeatable or comma-separated); "
            "written even with --no-report.",
        ),
    ] = None,
    prometheus_dir: Annotated[
        Optional[Path],
        typer.Option(
            help="Where the .prom file goes (default: /var/lib/prometheus/node-exporter "
            "when it exists, else --output-dir)."
        ),
    ] = None,
    force: ForceOption = False,
    dns_name: Annotated[
        Optional[str], typer.Option(help="Name to resolve when the VM's DNS suffix is unknown.")
    ] = None,
    trace_engine: TraceEngineOption = TraceEngine.AUTO,
    port_http: PortOption = 80,
    port_hostplugin: PortOption = 32526,
    port_dns: PortOption = 53,
) -> None:
    """Run the checks, print the verdict, write the reports.

    Exit 0 all ok, 1 some warn, 2 some fail, 3 could not run, 4 a report file asked for
    could not be written (the verdict is printed all the same).
    """
    from wirecheck.errors import UsageError
    from wirecheck.report.formats import parse_formats

    try:
        extra_formats = parse_formats(formats or ())
    except UsageError as exc:
        _die(f"wirecheck: {exc}")
    seams = ctx.find_object(Seams) or Seams()
    if _guarded(target, force, seams):
        _die(
            "wirecheck: this machine does not look like an Azure VM (no Azure chassis asset tag), "
            f"so {PLATFORM_ADDRESS} is not probed from here. Use --force if it is an Azure VM, "
            "--target ADDR to probe another address, or `wirecheck lab run` to see it work "
            "against a simulated Azure host."
        )
    config = RunConfig(
        target=target,
        timeout_s=timeout,
        ports=Ports(http=port_http, host_plugin=port_hostplugin, dns=port_dns),
        dns_name=dns_name,
        only=_ids(only),
        skip=_ids(skip),
        trace_engine=trace_engine.value,
        started=seams.started,
    )
    try:
        live = output is OutputFormat.TABLE and not quiet
        report = _execute(config, live=live, system=seams.system)
    except UsageError as exc:
        _die(f"wirecheck: {exc}")
    from wirecheck.report.interrupts import raise_if_signalled

    raise_if_signalled()  # a Ctrl-C during the run that a callback swallowed: no reports
    written = True
    if not no_report:
        written = _write_reports(report, output_dir, seams.writer)
    if extra_formats:
        written = (
            _write_extra_reports(report, extra_formats, output_dir, prometheus_dir, seams.writer)
            and written
        )
    _print(report, output, quiet)
    # A report that was asked for and is missing must not look like success to a timer
    # or cloud-init (the Prometheus file would silently go stale): its own exit code.
    raise typer.Exit(report.exit_code if written else EXIT_NOT_WRITTEN)


def _execute(config: RunConfig, live: bool, system: Optional["System"] = None) -> Report:
    from wirecheck.checks.catalogue import select
    from wirecheck.session import run_session

    specs = select(config.only, config.skip)  # fail fast on unknown ids, before any probe
    if not live or not _stdout_is_terminal():
        return run_session(config, system, specs=specs)  # printed once, after the run
    from rich.console import Console

    from wirecheck.console import LiveTable

    with LiveTable(Console(), specs) as table:
        return run_session(config, system, listener=table.update, specs=specs)


def _stdout_is_terminal() -> bool:
    """A person watches (live table, colour); otherwise plain lines, and rich is not loaded.

    Judged by isatty() alone: rich's FORCE_TERMINAL is not honoured, on purpose (a log
    wants plain lines).
    """
    return sys.stdout is not None and sys.stdout.isatty()


def _write_reports(report: Report, output_dir: Path, writer: Optional["Writer"]) -> bool:
    """The text and JSON reports; False (and one line on stderr) when they could not be."""
    from wirecheck.report.files import REPORT_MODE, report_stem, write_atomic
    from wirecheck.report.json_report import render_json
    from wirecheck.report.text import render_text

    write = writer or write_atomic
    stem = report_stem(report.target)
    try:
        write(output_dir / f"{stem}.txt", _encoded(render_text(report)), REPORT_MODE)
        write(output_dir / f"{stem}.json", _encoded(render_json(report)), REPORT_MODE)
    except OSError as exc:
        # The verdict is still worth printing; say plainly that the files are missing.
        typer.echo(
            f"wirecheck: could not write the reports in {output_dir}: {_why(exc)} "
            "(choose another --output-dir, or --no-report)",
            err=True,
        )
        return False
    return True


def _write_extra_reports(
    report: Report,
    names: tuple[str, ...],
    output_dir: Path,
    prometheus_dir: Optional[Path],
    writer: Optional["Writer"],
) -> bool:
    """The --format files; False when one of them could not be written (each says why)."""
    from wirecheck.report.files import write_atomic
    from wirecheck.report.formats import default_prometheus_dir, write_formats

    prom_dir = prometheus_dir or default_prometheus_dir(output_dir)
    written = True
    for name in names:  # one at a time: a directory that refuses one keeps no other back
        try:
            write_formats(report, [name], output_dir, prom_dir, writer or write_atomic)
        except OSError as exc:
            where = exc.filename or (prom_dir if name == "prometheus" else output_dir)
            option = "--prometheus-dir" if name == "prometheus" else "--output-dir"
            typer.echo(
                f"wirecheck: could not write the {name} report in {where}: "
                f"{_why(exc)} (choose another {option})",
                err=True,
            )
            written = False
    return written


def _encoded(text: str) -> bytes:
    # A host name that is not UTF-8 reaches the text as surrogate escapes: shown escaped.
    return text.encode("utf-8", errors="backslashreplace")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _print(report: Report, output: OutputFormat, quiet: bool) -> None:
    """The verdict on stdout; a closed stdout or one whose reader left (`| head -1`) is no
    failure of the run: the reports are written and the exit code is the verdict."""
    if sys.stdout is None:
        return
    try:
        _print_to_stdout(report, output, quiet)
        sys.stdout.flush()
    except BrokenPipeError:
        from wirecheck.entry import silence_stdout

        silence_stdout()


def _print_to_stdout(report: Report, output: OutputFormat, quiet: bool) -> None:
    from wirecheck.report.plain import render_plain, summary_line

    if quiet:
        typer.echo(summary_line(report))
        return
    if output is OutputFormat.JSON:
        from wirecheck.report.json_report import render_json

        sys.stdout.write(render_json(report))
        return
    if not _stdout_is_terminal():
        sys.stdout.write(render_plain(report))
        return
    from rich.console import Console

    from wirecheck.console import diagnosis

    console = Console()  # the live table is on the screen already
    console.print()
    console.print(diagnosis(report))
    typer.echo(summary_line(report))  # one unwrapped line, whatever the terminal width


@app.command("list")
def list_checks(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="The checks as the README's Markdown tables.")
    ] = False,
) -> None:
    """List the checks, one line each."""
    from wirecheck.checks.catalogue import load_all

    specs = load_all()
    if markdown:
        from wirecheck.report.checks_table import markdown_tables

        typer.echo(markdown_tables(specs), nl=False)
        return
    width = max(len(spec.id) for spec in specs)
    for spec in specs:
        typer.echo(f"{spec.id:<{width}}  {spec.title}")


@app.command()
def explain(
    check_id: Annotated[str, typer.Argument(help="A check id from `wirecheck list`.")],
) -> None:
    """What a check does, what each outcome means and how to fix it."""
    from wirecheck.checks.catalogue import IDS, load

    if check_id not in IDS:
        _die(f"wirecheck: unknown check id {check_id!r}; known: {', '.join(IDS)}")
    spec = load(check_id)
    typer.echo(f"{spec.id}: {spec.title}\n\n{spec.explain}")


@app.command()
def bundle(
    ctx: typer.Context,
    output: Annotated[
        Optional[Path],
        typer.Option(
            help="Archive file (.tar.gz or .zip) or directory (default: current directory)."
        ),
    ] = None,
    no_redact: Annotated[
        bool,
        typer.Option(
            "--no-redact", help="Keep public IPs, MACs, host names and secrets as they are."
        ),
    ] = False,
    no_run: Annotated[
        bool, typer.Option("--no-run", help="Collect the facts only; run no check.")
    ] = False,
    target: TargetOption = PLATFORM_ADDRESS,
    timeout: TimeoutOption = 5.0,
    force: ForceOption = False,
    trace_engine: TraceEngineOption = TraceEngine.AUTO,
    port_http: PortOption = 80,
    port_hostplugin: PortOption = 32526,
    port_dns: PortOption = 53,
) -> None:
    """Run the checks and collect the facts support asks for into one redacted archive.

    Prints the archive's path on stdout; exit 0 when it was written, 3 when it was not.
    Redacted, it also writes beside the archive a key that maps the tokens back to the
    original values (mode 0600): keep it, do not send it.
    """
    from wirecheck.bundle.build import create_bundle, interrupt_on_termination

    seams = ctx.find_object(Seams) or Seams()
    report: Optional[Report] = None
    reason: Optional[str] = None
    if no_run:
        reason = "not requested (--no-run)"
    elif _guarded(target, force, seams):
        # Same guard as `run`; the facts are still worth collecting.
        reason = (
            f"this machine does not look like an Azure VM, so {PLATFORM_ADDRESS} was not "
            "probed (use --force on an Azure VM, or --target)"
        )
        typer.echo(f"wirecheck: {reason}; collecting the facts only", err=True)
    else:
        config = RunConfig(
            target=target,
            timeout_s=timeout,
            ports=Ports(http=port_http, host_plugin=port_hostplugin, dns=port_dns),
            trace_engine=trace_engine.value,
            started=seams.started,
        )
        report = _execute(config, live=False, system=seams.system)
        from wirecheck.report.plain import summary_line

        typer.echo(summary_line(report), err=True)
    try:
        with interrupt_on_termination():
            result = create_bundle(
                output,
                report,
                not_run_reason=reason,
                redact=not no_redact,
                system=seams.system,
            )
    except KeyboardInterrupt:
        _die("wirecheck: bundle interrupted; no archive was written")
    except OSError as exc:
        _die(
            f"wirecheck: could not write the bundle at {exc.filename or output}: "
            f"{exc.strerror} (choose another --output)"
        )
    if result.key_path is not None:
        typer.echo(
            f"wirecheck: redaction key (each token and the value it replaced): {result.key_path}"
            " - keep it on this machine to answer support's questions; do not send it",
            err=True,
        )
    typer.echo(str(result.path))


@app.command()
def watch(
    ctx: typer.Context,
    target: TargetOption = PLATFORM_ADDRESS,
    only: Annotated[
        Optional[str],
        typer.Option(
            help="Comma-separated probes to repeat (default: tcp-80, tcp-32526, wire-versions, "
            "dns-udp, dns-tcp, imds)."
        ),
    ] = None,
    interval: Annotated[
        float,
        typer.Option(
            callback=_finite_seconds,
            help="Seconds between rounds. Raised when needed so that watch never sends more "
            "than 2 requests a second to the platform in all (6 probes: every 3 s at least).",
        ),
    ] = 5.0,
    duration: Annotated[
        Optional[str],
        typer.Option(
            help="How long to watch: seconds, or 90s, 15m, 2h, 1d (default: until "
            "Ctrl-C or SIGTERM)."
        ),
    ] = None,
    timeout: Annotated[
        Optional[float],
        typer.Option(
            min=0.1,
            max=300,
            callback=lambda v: v if v is None else _finite_seconds(v),
            help="One round's deadline, seconds (default: 0.8 x the interval, at most 3).",
        ),
    ] = None,
    output_dir: Annotated[
        Path, typer.Option(help="Where the event log and the summary files are written.")
    ] = Path("."),
    event_log: Annotated[
        Optional[Path],
        typer.Option(help="The JSON Lines event log (default: in --output-dir); appended to."),
    ] = None,
    prometheus_dir: Annotated[
        Optional[Path],
        typer.Option(
            help="Where the .prom file, rewritten every round, goes (default: "
            "/var/lib/prometheus/node-exporter when it exists, else --output-dir)."
        ),
    ] = None,
    no_prometheus: Annotated[
        bool, typer.Option("--no-prometheus", help="Do not write the Prometheus file.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option(help="Print changes and the summary only, not every round.")
    ] = False,
    force: ForceOption = False,
    dns_name: Annotated[
        Optional[str], typer.Option(help="Name to resolve when the VM's DNS suffix is unknown.")
    ] = None,
    trace_engine: TraceEngineOption = TraceEngine.AUTO,
    port_http: PortOption = 80,
    port_hostplugin: PortOption = 32526,
    port_dns: PortOption = 53,
) -> None:
    """Repeat the platform probes to catch intermittent faults; capture evidence when one
    breaks or comes back; summarise at the end (duration over, Ctrl-C or SIGTERM).

    Exit 0 every round ok, 2 some failure window, 3 could not run.
    """
    from wirecheck.errors import UsageError
    from wirecheck.watch import files, loop, probes, rate
    from wirecheck.watch.capture import Capturer

    seams = ctx.find_object(Seams) or Seams()
    try:
        seconds = None if duration is None else rate.parse_duration(duration)
        specs = probes.watch_specs(_ids(only))
        pace = rate.pace(interval, len(specs))
    except (UsageError, ValueError) as exc:
        _die(f"wirecheck: {exc}")
    if _guarded(target, force, seams):
        _die(
            "wirecheck: this machine does not look like an Azure VM (no Azure chassis asset tag), "
            f"so {PLATFORM_ADDRESS} is not watched from here. Use --force if it is an Azure VM, "
            "--target ADDR to watch another address, or `wirecheck lab watch` to see it work "
            "against a simulated Azure host."
        )
    from wirecheck.system import System

    system = seams.system or System()
    config = RunConfig(
        target=target,
        timeout_s=min(timeout or loop.round_timeout(pace.interval_s), pace.interval_s),
        ports=Ports(http=port_http, host_plugin=port_hostplugin, dns=port_dns),
        dns_name=dns_name,
        trace_engine=trace_engine.value,
    )
    log_path = event_log or files.event_log_path(output_dir, target)
    prom_path = None
    if not no_prometheus:
        from wirecheck.report.formats import default_prometheus_dir

        prom_path = files.prometheus_path(
            prometheus_dir or default_prometheus_dir(output_dir), target
        )
    plan = loop.WatchPlan(
        config,
        pace,
        seconds,
        loop.capture_budget(pace.interval_s),
        log_path,
        prom_path,
        host=system.hostname(),
        version=__version__,
    )
    out = _WatchOutput(quiet)
    stop = loop.Stop()
    capturer = Capturer(config, specs, system)
    try:
        with _stop_on_signals(stop):
            record = loop.watch(
                plan,
                [spec.id for spec in specs],
                loop.probe_round(specs, config, system),
                capturer,
                stop=stop,
                listener=out.event,
            )
            try:
                files.write_summary_files(record, output_dir, log_path)
            except OSError as exc:
                typer.echo(
                    f"wirecheck: could not write the watch summary in {output_dir}: "
                    f"{exc.strerror} (choose another --output-dir)",
                    err=True,
                )
    except KeyboardInterrupt:  # a second Ctrl-C: at once, without the summary
        typer.echo(
            f"wirecheck: watch interrupted; the event log {log_path} has every round", err=True
        )
        raise typer.Exit(130) from None
    except OSError as exc:
        _die(
            f"wirecheck: could not open the event log {exc.filename or log_path}: "
            f"{exc.strerror} (choose another --event-log or --output-dir)"
        )
    from wirecheck.watch.summary import exit_code, render_summary_text

    out.text(render_summary_text(record, str(log_path)))
    raise typer.Exit(exit_code(record))


@contextlib.contextmanager
def _stop_on_signals(stop: "Stop") -> Iterator[None]:
    """Ctrl-C or SIGTERM ends the watch after its round, with the summary; a second
    Ctrl-C interrupts at once."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signals can be caught in the main thread only (tests run commands elsewhere)
        return

    def ask(signum: int, _frame: Any) -> None:
        if signum == signal.SIGINT and stop.requested:
            raise KeyboardInterrupt
        stop.request("Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _WatchOutput:
    """The live view: lines on stdout, coloured on a terminal. A closed stdout or a reader
    that went away (broken pipe) stops the printing, never the watch."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.alive = sys.stdout is not None
        self.colour = _stdout_is_terminal()

    def _paint(self, text: str, status: str) -> str:
        colours = {"ok": "green", "up": "green", "warn": "yellow", "skip": "bright_black"}
        return typer.style(text, fg=colours.get(status, "red"), bold=status in ("down", "up"))

    def event(self, event: "WatchEvent") -> None:
        from wirecheck.watch.lines import event_lines, plain
        from wirecheck.watch.loop import RoundEvent

        lines = event_lines(event, self._paint if self.colour else plain)
        if self.quiet and isinstance(event, RoundEvent):
            lines = lines[1:]  # the changes only
        if lines:
            self.text("\n".join(lines) + "\n")

    def text(self, text: str) -> None:
        if not self.alive:
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except (OSError, ValueError):  # EPIPE, or a stdout closed under us
            self.alive = False
            _silence_stdout()


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so Python's own flush at exit finds no broken pipe."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _guarded(target: str, force: bool, seams: Seams) -> bool:
    """The Azure guard: the platform address is probed only from an Azure VM,
    unless --force says this is one."""
    if target != PLATFORM_ADDRESS or force:
        return False
    from wirecheck.platform.azure import is_azure_vm, read_asset_tag

    return not is_azure_vm(seams.read_asset_tag or read_asset_tag)


def _die(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(EXIT_UNKNOWN)


def _mount_lab() -> None:
    from wirecheck.lab.cli import lab_app

    app.add_typer(lab_app, name="lab")


_mount_lab()


def main(started: Optional[float] = None) -> None:
    app(args=_default_to_run(sys.argv[1:]), obj=Seams(started=started))


def _default_to_run(args: list[str]) -> list[str]:
    """`wirecheck --target X` means `wirecheck run --target X`: run is the default command."""
    if not args or args[0] in ("--help", "-h", "--version") or args[0] in _command_names():
        return args
    return ["run", *args]


def _command_names() -> set[str]:
    names = {
        info.name or info.callback.__name__ for info in app.registered_commands if info.callback
    }
    names |= {group.name for group in app.registered_groups if group.name}
    return names


if __name__ == "__main__":  # pragma: no cover
    main()
