"""One wirecheck run from config to Report: select, run, diagnose. No printing, no exiting."""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Sequence

from wirecheck import __version__
from wirecheck.checks.base import CheckSpec
from wirecheck.checks.catalogue import select
from wirecheck.diagnose import diagnose
from wirecheck.model import Report, RunConfig
from wirecheck.runner import Listener, run_checks
from wirecheck.safe_text import without_surrogates
from wirecheck.system import System


def run_session(
    config: RunConfig,
    system: System | None = None,
    listener: Listener | None = None,
    specs: Sequence[CheckSpec] | None = None,
) -> Report:
    """`specs`: the checks to run, when already selected (default: from the config)."""
    system = system or System()
    specs = select(config.only, config.skip) if specs is None else specs
    started_at = time.time()
    started = time.monotonic()
    results = run_checks(specs, config, system=system, listener=listener)
    return Report(
        target=config.target,
        started_at=started_at,
        duration_s=time.monotonic() - started,
        results=results,
        causes=diagnose(results, config.target, {spec.id: spec for spec in specs}),
        facts={
            "hostname": without_surrogates(system.hostname()),
            "os": f"{platform.system()} {platform.release()}",
            "python": sys.version.split()[0],
            "root": system.is_root(),
            "timeout_s": config.timeout_s,
        },
        version=__version__,
    )
