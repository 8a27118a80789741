"""What the lab tests share: whether the lab can run here, unique names, machine snapshots."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from wirecheck.errors import WirecheckError
from wirecheck.lab.names import NETNS_ETC, LabNames, lab_names
from wirecheck.lab.preflight import preflight


def lab_unavailable() -> str | None:
    """Why the lab tests cannot run here, or None when they can (Linux, root, ip netns)."""
    try:
        preflight()
    except WirecheckError as exc:
        return f"lab tests skipped: {exc}"
    return None


def unique_names(prefix: str) -> LabNames:
    """A lab name no other test process uses: the prefix and this process's id."""
    return lab_names(f"{prefix}{os.getpid() % 100_000}")


def fresh_lab(prefix: str, *, machine_unchanged: bool = False) -> Iterator[LabNames]:
    """A fixture body: unique lab names, and afterwards the lab torn down, its state
    directory purged, and nothing of it left; `machine_unchanged`: also compare the
    machine's own network state with what it was before."""
    from wirecheck.lab.lab import Lab

    names = unique_names(prefix)
    before = machine_snapshot(names) if machine_unchanged else None
    yield names
    lab = Lab(names)
    lab.down(purge=True)
    assert lab.leftovers() == []
    if before is not None:
        assert machine_snapshot(names) == before


def run(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout


def machine_snapshot(names: LabNames) -> dict[str, object]:
    """The machine's own network state that lab `names` must leave as it found it.

    The root namespace's links, addresses, routes and rules (counters stripped: traffic
    moves them), and this lab's namespaces and /etc/netns entries; other labs and other
    namespaces on the machine come and go on their own.
    """
    ours = f"wcl-{names.lab}-"
    rules = [
        re.sub(r"^\[\d+:\d+\] ", "", re.sub(r" \[\d+:\d+\]$", "", line))
        for line in run("iptables-save").splitlines()
        if not line.startswith("#")
    ]
    return {
        "links": sorted(link["ifname"] for link in json.loads(run("ip", "-j", "link", "show"))),
        "addresses": run("ip", "-4", "-o", "addr", "show"),
        "routes": run("ip", "route", "show", "table", "all"),
        "rules": rules,
        "namespaces": sorted(
            ns["name"]
            for ns in json.loads(run("ip", "-j", "netns", "list") or "[]")
            if ns["name"].startswith(ours)
        ),
        "etc_netns": sorted(
            p.name
            for p in (NETNS_ETC.iterdir() if NETNS_ETC.is_dir() else [])
            if p.name.startswith(ours)
        ),
    }


def lab_command(*args: str) -> list[str]:
    """`wirecheck lab ...` as a separate process (the same code the lead mounts as `lab`)."""
    return [sys.executable, "-m", "wirecheck.lab", *args]


def package_root() -> Path:
    return Path(__file__).resolve().parents[2]
