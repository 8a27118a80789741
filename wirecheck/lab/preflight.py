"""Can the lab run here? Linux, root, `ip netns`, iptables, sysctl and psutil; one clear
reason if not."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Optional

from wirecheck.lab.errors import LabError
from wirecheck.system import CommandResult, is_root, run_command

Which = Callable[[str], Optional[str]]
Runner = Callable[[Sequence[str], float], CommandResult]


def importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def preflight(
    *,
    platform: str = sys.platform,
    root: Callable[[], bool] = is_root,
    which: Which = shutil.which,
    run: Runner = run_command,
    has_module: Callable[[str], bool] = importable,
) -> None:
    """Raise LabError with the first reason the lab cannot be built here."""
    if not platform.startswith("linux"):
        raise LabError(
            f"the lab needs Linux network namespaces; this is {platform} "
            "(run `wirecheck lab` on a Linux machine or VM)"
        )
    if not root():
        raise LabError(
            "the lab needs root: it creates network namespaces and firewall rules inside "
            "them (run it as root, e.g. `sudo wirecheck lab ...`)"
        )
    for tool, package in (("ip", "iproute2"), ("iptables", "iptables"), ("sysctl", "procps")):
        if which(tool) is None:
            raise LabError(f"the lab needs `{tool}`, which is not installed (install {package})")
    if not has_module("psutil"):
        # The single-file build leaves it out; the lab finds its simulators' processes with it.
        raise LabError("the lab needs the Python package psutil (`pip install psutil`)")
    probe = run(["ip", "netns", "list"], 5.0)
    if not probe.ok:
        reason = probe.why
        raise LabError(
            f"`ip netns` does not work here ({reason}); the lab needs network namespace "
            "support (a kernel with CONFIG_NET_NS and a container allowed to create namespaces)"
        )


def require_tool(tool: str, why: str, which: Which = shutil.which) -> None:
    if which(tool) is None:
        raise LabError(f"{why} needs `{tool}`, which is not installed (install util-linux)")
