"""One wirecheck run from config to Report: select, run, diagnose. No printing, no exiting."""

from __future__ import annotations

import platform
import sys
import time

from wirecheck import __version__
from wirecheck.checks import select
from wirecheck.diagnose import diagnose
from wirecheck.model import Report, RunConfig
from wirecheck.runner import Listener, run_checks
from wirecheck.system import System


def run_session(
    config: RunConfig, system: System | None = None, listener: Listener | None = None
) -> Report:
    system = system or System()
    specs = select(config.only, config.skip)
    started_at = time.time()
    started = time.monotonic()
    results = run_checks(specs, config, system=system, listener=listener)
    return Report(
        target=config.target,
        started_at=started_at,
        duration_s=time.monotonic() - started,
        results=results,
        causes=diagnose(results),
        facts={
            "hostname": system.hostname(),
            "os": f"{platform.system()} {platform.release()}",
            "python": sys.version.split()[0],
            "root": system.is_root(),
            "timeout_s": config.timeout_s,
        },
        version=__version__,
    )
