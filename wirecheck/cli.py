"""The command line: arguments -> run config -> session -> renderers -> exit code.

The only module that prints or exits. Heavy modules (dnspython, rich's live display,
the checks) are imported inside the commands so `--version` and `--help` stay instant.
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from wirecheck import __version__
from wirecheck.model import EXIT_UNKNOWN, PLATFORM_ADDRESS, Ports, Report, RunConfig

app = typer.Typer(
    name="wirecheck",
    help="Can this Azure VM talk to the platform address 168.63.129.16? If not: why, and the fix.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


def _ids(value: str | None) -> frozenset[str]:
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
        ctx.invoke(run)


@app.command()
def run(
    target: Annotated[
        str, typer.Option(help="Address to probe. An explicit target is always honoured.")
    ] = PLATFORM_ADDRESS,
    only: Annotated[str | None, typer.Option(help="Comma-separated check ids to run.")] = None,
    skip: Annotated[str | None, typer.Option(help="Comma-separated check ids to skip.")] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, max=300, help="One deadline for the whole run, seconds.")
    ] = 5.0,
    output_dir: Annotated[Path, typer.Option(help="Where the report files are written.")] = Path(
        "."
    ),
    output: Annotated[
        OutputFormat, typer.Option("--output", "-o", help="What to print on stdout.")
    ] = OutputFormat.TABLE,
    quiet: Annotated[bool, typer.Option(help="Print one summary line only.")] = False,
    no_report: Annotated[bool, typer.Option(help="Do not write report files.")] = False,
    force: Annotated[
        bool, typer.Option(help="Probe the platform address even if this is not an Azure VM.")
    ] = False,
    dns_name: Annotated[
        str | None, typer.Option(help="Name to resolve when the VM's DNS suffix is unknown.")
    ] = None,
    port_http: Annotated[int, typer.Option(hidden=True)] = 80,
    port_hostplugin: Annotated[int, typer.Option(hidden=True)] = 32526,
    port_dns: Annotated[int, typer.Option(hidden=True)] = 53,
) -> None:
    """Run the checks, print the verdict, write the reports.

    Exit 0 all ok, 1 some warn, 2 some fail, 3 could not run.
    """
    from wirecheck.errors import UsageError
    from wirecheck.platform.azure import is_azure_vm

    if target == PLATFORM_ADDRESS and not force and not is_azure_vm():
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
    )
    try:
        report = _execute(config, live=output is OutputFormat.TABLE and not quiet)
    except UsageError as exc:
        _die(f"wirecheck: {exc}")
    if not no_report:
        _write_reports(report, output_dir)
    _print(report, output, quiet)
    raise typer.Exit(report.exit_code)


def _execute(config: RunConfig, live: bool) -> Report:
    from wirecheck.checks import select
    from wirecheck.session import run_session

    specs = select(config.only, config.skip)  # fail fast on unknown ids, before any probe
    if not live:
        return run_session(config)
    from rich.console import Console

    from wirecheck.console import LiveTable

    console = Console()
    if not console.is_terminal:
        return run_session(config)  # the final table is printed once, after the run
    with LiveTable(console, specs) as table:
        return run_session(config, listener=table.update)


def _write_reports(report: Report, output_dir: Path) -> None:
    from wirecheck.checks import BY_ID
    from wirecheck.report.files import report_stem, write_atomic
    from wirecheck.report.json_report import render_json
    from wirecheck.report.text import render_text

    stem = report_stem(report.target)
    try:
        write_atomic(
            output_dir / f"{stem}.txt", render_text(report, frozenset(BY_ID)).encode("utf-8")
        )
        write_atomic(output_dir / f"{stem}.json", render_json(report).encode("utf-8"))
    except OSError as exc:
        # The verdict is still worth printing; say plainly that the files are missing.
        typer.echo(
            f"wirecheck: could not write the reports in {output_dir}: {exc.strerror} "
            "(choose another --output-dir, or --no-report)",
            err=True,
        )


def _print(report: Report, output: OutputFormat, quiet: bool) -> None:
    from wirecheck.console import summary_line

    if quiet:
        typer.echo(summary_line(report))
        return
    if output is OutputFormat.JSON:
        from wirecheck.report.json_report import render_json

        sys.stdout.write(render_json(report))
        return
    from rich.console import Console

    from wirecheck.checks import BY_ID
    from wirecheck.console import diagnosis, results_table

    console = Console()
    if not console.is_terminal:
        specs = [BY_ID[r.check_id] for r in report.results]
        console.print(results_table(report.results, specs))
    console.print()
    console.print(diagnosis(report))
    console.print(summary_line(report), style="bold", highlight=False)


@app.command("list")
def list_checks() -> None:
    """List the checks, one line each."""
    from wirecheck.checks import ALL_CHECKS

    width = max(len(spec.id) for spec in ALL_CHECKS)
    for spec in ALL_CHECKS:
        typer.echo(f"{spec.id:<{width}}  {spec.title}")


@app.command()
def explain(
    check_id: Annotated[str, typer.Argument(help="A check id from `wirecheck list`.")],
) -> None:
    """What a check does, what each outcome means and how to fix it."""
    from wirecheck.checks import BY_ID

    spec = BY_ID.get(check_id)
    if spec is None:
        _die(f"wirecheck: unknown check id {check_id!r}; known: {', '.join(BY_ID)}")
    typer.echo(f"{spec.id}: {spec.title}\n\n{spec.explain}")


def _die(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(EXIT_UNKNOWN)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
