"""What keeps a guest agent from working although the network is fine, parsed without I/O.

Linux: the agent's systemd unit (`systemctl show`), the mount holding /var/lib/waagent
(/proc/self/mountinfo), free space and inodes (statvfs), the agent's switches in
/etc/waagent.conf. Windows: the agent services' start types (`Get-Service`), their crash
events (Service Control Manager 7031/7034, `Get-WinEvent`), and the TenantEncryptionCert
that extension settings are encrypted to (`Cert:\\LocalMachine\\My`), from PowerShell's
Format-Table and Format-List output (English).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

# ---------------------------------------------------------------------------------------
# Linux


@dataclass(frozen=True)
class UnitState:
    name: str
    load: str  # loaded, masked, not-found, ...
    active: str  # active, inactive, failed, ...
    sub: str  # running, dead, failed, ...
    file_state: str  # enabled, disabled, masked, static, ...
    fragment: str  # the unit file
    exec_start: tuple[str, ...] = ()  # argv of ExecStart

    @property
    def present(self) -> bool:
        return self.load in ("loaded", "masked")

    @property
    def masked(self) -> bool:
        return "masked" in (self.load, self.file_state) or self.fragment == "/dev/null"

    @property
    def failed(self) -> bool:
        return self.active == "failed"

    @property
    def disabled(self) -> bool:
        return self.file_state == "disabled"


UNIT_PROPERTIES = (
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "UnitFileState",
    "FragmentPath",
    "ExecStart",
)


def parse_unit_show(text: str, units: Sequence[str]) -> list[UnitState]:
    """`systemctl show -p ... UNIT...`: one block per unit, in the order asked; a block
    without Id= takes its name from `units`."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for raw in [*text.splitlines(), ""]:
        line = raw.strip()
        if not line:
            if current:
                blocks.append(current)
            current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    found: list[UnitState] = []
    for index, block in enumerate(blocks):
        name = block.get("Id") or (units[index] if index < len(units) else f"unit {index}")
        found.append(
            UnitState(
                name,
                block.get("LoadState", ""),
                block.get("ActiveState", ""),
                block.get("SubState", ""),
                block.get("UnitFileState", ""),
                block.get("FragmentPath", ""),
                exec_argv(block.get("ExecStart", "")),
            )
        )
    return found


def exec_argv(value: str) -> tuple[str, ...]:
    """The argv of `ExecStart={ path=... ; argv[]=/usr/bin/python3 -u /usr/sbin/waagent
    -daemon ; ... }` as systemctl show prints it."""
    found = re.search(r"argv\[\]=(.*?)\s;", value)
    return tuple(found.group(1).split()) if found else ()


def interpreter(exec_start: Sequence[str], shebang: str | None) -> str | None:
    """The Python that runs the agent: ExecStart's program when it is a Python, else the
    interpreter on the script's first line (`#!/usr/bin/python3 -u`)."""
    if exec_start and re.fullmatch(r"(platform-)?python[\d.]*", posixpath.basename(exec_start[0])):
        return exec_start[0]
    if shebang and shebang.startswith("#!"):
        words = shebang[2:].split()
        if words and posixpath.basename(words[0]) == "env" and len(words) > 1:
            return words[1]
        return words[0] if words else None
    return None


@dataclass(frozen=True)
class Mount:
    point: str
    fstype: str
    source: str
    options: tuple[str, ...]  # the mount's own and its filesystem's, together

    @property
    def noexec(self) -> bool:
        return "noexec" in self.options


def parse_mountinfo(text: str) -> list[Mount]:
    """/proc/self/mountinfo, in order (a later mount on the same point covers an earlier)."""
    mounts: list[Mount] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        options = fields[5].split(",") + (tail[2].split(",") if len(tail) > 2 else [])
        mounts.append(Mount(_unescape(fields[4]), tail[0], _unescape(tail[1]), tuple(options)))
    return mounts


def mount_of(path: str, mounts: Sequence[Mount]) -> Mount | None:
    """The mount a path lies on: the longest mount point above it, the last one mounted."""
    best: Mount | None = None
    for mount in mounts:
        point = mount.point.rstrip("/") or "/"
        inside = point == "/" or path == point or path.startswith(point + "/")
        if inside and (best is None or len(point) >= len(best.point.rstrip("/") or "/")):
            best = mount
    return best


def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


@dataclass(frozen=True)
class Space:
    """Free space and inodes of the filesystem holding `path` (where it was measured)."""

    path: str
    size: int  # bytes
    available: int  # bytes an unprivileged writer may still use
    used: int  # bytes
    inodes: int  # 0: the filesystem has no fixed inode count (btrfs, some overlays)
    inodes_available: int

    @property
    def used_percent(self) -> float:
        total = self.used + self.available
        return 100.0 * self.used / total if total else 0.0

    @property
    def inodes_used_percent(self) -> float:
        if not self.inodes:
            return 0.0
        return 100.0 * (self.inodes - self.inodes_available) / self.inodes


# A filesystem the agent can no longer count on writing to: less than this much left (it
# writes its goal state, extension packages and logs there).
MIN_FREE_BYTES = 64 * 1024 * 1024
NEARLY_FULL_PERCENT = 90.0  # with less than MIN_FREE_BYTES left (a small disk is not full)
MIN_FREE_PERCENT = 2.0
MIN_FREE_INODES = 1000


def space_problem(space: Space) -> str | None:
    """Why this filesystem is (nearly) full, or None."""
    free_percent = 100.0 - space.used_percent
    nearly_full = space.available < MIN_FREE_BYTES and space.used_percent >= NEARLY_FULL_PERCENT
    if space.size and (nearly_full or free_percent < MIN_FREE_PERCENT):
        return (
            f"{space.path} has {_size(space.available)} free of {_size(space.size)} "
            f"({space.used_percent:.0f}% used)"
        )
    if space.inodes and (
        space.inodes_available < MIN_FREE_INODES
        or 100.0 - space.inodes_used_percent < MIN_FREE_PERCENT
    ):
        return (
            f"{space.path} has {space.inodes_available} free inodes of {space.inodes} "
            f"({space.inodes_used_percent:.0f}% used): no new file can be created there"
        )
    return None


def _size(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


@dataclass(frozen=True)
class AgentSwitches:
    """The waagent.conf switches that turn the agent's work off, as the agent reads them
    (`y`/`n`; anything else is the default)."""

    extensions: bool = True
    auto_update: bool = True
    openssl: str = "openssl"


def agent_switches(conf: Mapping[str, str]) -> AgentSwitches:
    def switch(key: str, default: bool) -> bool:
        value = conf.get(key, "").strip().lower()
        return {"y": True, "n": False}.get(value, default)

    # AutoUpdate.UpdateToLatestVersion, where present, overrides AutoUpdate.Enabled.
    enabled = switch("AutoUpdate.Enabled", True)
    openssl = conf.get("OS.OpensslPath", "").strip()
    return AgentSwitches(
        extensions=switch("Extensions.Enabled", True),
        auto_update=switch("AutoUpdate.UpdateToLatestVersion", enabled),
        openssl=openssl if openssl and openssl.lower() != "none" else "openssl",
    )


# ---------------------------------------------------------------------------------------
# Windows


def parse_format_list(text: str) -> list[dict[str, str]]:
    """PowerShell's Format-List: records separated by blank lines, `Name : value` lines,
    long values continued on lines indented to the value column."""
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in [*text.replace("\r\n", "\n").split("\n"), ""]:
        line = raw.rstrip()
        if not line.strip():
            if current:
                records.append(current)
            current, key = {}, ""
            continue
        found = re.match(r"^(\S[^:]*?)\s*: ?(.*)$", line)
        if found and not line.startswith(" "):
            key = found.group(1).strip()
            current[key] = found.group(2).strip()
        elif key:
            current[key] = f"{current[key]} {line.strip()}".strip()
    return records


def parse_format_table(text: str) -> list[dict[str, str]]:
    """PowerShell's Format-Table of values without spaces (names, states): a header, a
    dashed rule, then one row per line, cells split on whitespace."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    for index in range(1, len(lines)):
        rule = lines[index]
        if rule.strip() and set(rule.replace(" ", "")) == {"-"}:
            names = lines[index - 1].split()
            rows: list[dict[str, str]] = []
            for line in lines[index + 1 :]:
                cells = line.split()
                if not cells:
                    if rows:
                        break
                    continue
                if len(cells) == len(names):
                    rows.append(dict(zip(names, cells)))
            return rows
    return []


def parse_powershell_time(text: str) -> datetime | None:
    """`10/2/2026 9:15:40 AM` (en-US), or ISO 8601; naive, in the machine's local time."""
    text = text.strip()
    for layout in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        return None


@dataclass(frozen=True)
class Crash:
    service: str
    event_id: str
    time: datetime | None
    message: str


def parse_crash_events(text: str, services: Mapping[str, str]) -> list[Crash]:
    """Service Control Manager 7031/7034 events (Format-List of Get-WinEvent) that name one of
    `services` (service name -> the display name its events use)."""
    found: list[Crash] = []
    for record in parse_format_list(text):
        message = record.get("Message", "")
        if record.get("Id") not in ("7031", "7034"):
            continue
        for service, display in services.items():
            if re.search(rf"\b(?:{re.escape(display)}|{re.escape(service)})\b", message):
                time = parse_powershell_time(record.get("TimeCreated", ""))
                found.append(Crash(service, record["Id"], time, message))
                break
    return found


@dataclass(frozen=True)
class Certificate:
    subject: str
    issuer: str
    thumbprint: str
    not_before: datetime | None
    not_after: datetime | None


def parse_certificates(text: str) -> list[Certificate]:
    return [
        Certificate(
            record.get("Subject", ""),
            record.get("Issuer", ""),
            record.get("Thumbprint", ""),
            parse_powershell_time(record.get("NotBefore", "")),
            parse_powershell_time(record.get("NotAfter", "")),
        )
        for record in parse_format_list(text)
        if record.get("Thumbprint")
    ]


def split_sections(text: str, marker: str = "### ") -> dict[str, str]:
    """The sections of one PowerShell run that printed `### name` lines between its parts."""
    sections: dict[str, list[str]] = {}
    name = ""
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(marker):
            name = line[len(marker) :].strip()
            sections[name] = []
        elif name:
            sections[name].append(line)
    return {key: "\n".join(lines) for key, lines in sections.items()}
