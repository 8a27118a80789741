"""What else blocks outbound traffic on Windows besides a block rule: the Windows Firewall's
default outbound policy, and Windows Filtering Platform (WFP) filters that VPN clients,
EDR and security products install without any firewall rule. Parsed from the text and XML
the tools write (English), anywhere; read through `System` by `read_windows_extras`.

- `netsh advfirewall show allprofiles`: per profile State and `Firewall Policy
  BlockInbound,AllowOutbound` (the default) or `...,BlockOutbound`, where every outbound
  connection needs an allow rule;
- `netsh wfp show filters dir=OUT remoteaddr=<target> file=<path>`: the filters that match
  the address, as XML (`<wfpdiag><filters><item>`), with their provider.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from wirecheck.errors import ParseError
from wirecheck.model import Deadline
from wirecheck.platform.firewall.assess import touches
from wirecheck.platform.firewall.model import Cond, Match, Rule
from wirecheck.platform.safe_xml import Element, parse_tree
from wirecheck.system import CommandResult, System

WINDOWS_FIREWALL = "Windows Firewall"
# Windows Firewall's own filters stand for its rules, which netsh lists by name.
MPSSVC_PROVIDERS = ("FWPM_PROVIDER_MPSSVC_WF", "FWPM_PROVIDER_MPSSVC_WSH")
OUTBOUND_LAYERS = re.compile(
    r"FWPM_LAYER_(ALE_AUTH_CONNECT|OUTBOUND_TRANSPORT|OUTBOUND_IPPACKET)_V4"
)
PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp"}
MAX_WFP_BYTES = 32 * 1024 * 1024
MAX_WFP_ELEMENTS = 400_000
ALLOW_RULE = (
    'netsh advfirewall firewall add rule name="Azure platform {address}" dir=out action=allow '
    "protocol={protocol} remoteip={address} remoteport={port}"
)

Flow = tuple[str, str, int]  # (address, protocol, port)


@dataclass(frozen=True)
class Profile:
    name: str  # Domain, Private, Public
    on: bool
    inbound: str  # Allow or Block
    outbound: str
    gpo_only: bool  # local rules do not apply: Group Policy's alone


def parse_allprofiles(text: str) -> list[Profile]:
    profiles: list[Profile] = []
    name: str | None = None
    fields: dict[str, str] = {}

    def close() -> None:
        if name is None:
            return
        policy = fields.get("firewall policy", "")
        inbound = "Block" if "BlockInbound" in policy else "Allow"
        outbound = "Block" if "BlockOutbound" in policy else "Allow"
        profiles.append(
            Profile(
                name,
                fields.get("state", "").upper() == "ON",
                inbound,
                outbound,
                "gpo-store only" in fields.get("localfirewallrules", "").lower(),
            )
        )

    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        found = re.match(r"^(\w+) Profile Settings:", line)
        if found:
            close()
            name, fields = found.group(1), {}
            continue
        parts = re.split(r"\s{2,}", line, maxsplit=1)
        if name is not None and len(parts) == 2:
            fields.setdefault(parts[0].strip().lower(), parts[1].strip())
    close()
    return profiles


def outbound_policy_rules(
    profiles: Sequence[Profile], rules: Sequence[Rule], flows: Iterable[Flow]
) -> list[Rule]:
    """The default outbound Block, as one rule per flow no enabled allow rule lets out:
    Windows applies the profile's default only to connections no rule matches."""
    blocking = [p for p in profiles if p.on and p.outbound == "Block"]
    if not blocking:
        return []
    allows = [r for r in rules if r.chain == "OUTPUT" and (r.verdict or "").upper() == "ALLOW"]
    names = ", ".join(p.name for p in blocking)
    found: list[Rule] = []
    for address, protocol, port in dict.fromkeys(flows):
        if any(touches(rule, address, protocol, port) for rule in allows):
            continue
        text = (
            f"default outbound policy Block ({names} profile{'s' if len(blocking) > 1 else ''}) "
            f"and no allow rule for {protocol.upper()} {port} to {address}"
        )
        found.append(
            Rule(
                "windows",
                WINDOWS_FIREWALL,
                "OUTPUT",
                text,
                "BLOCK",
                Match(
                    daddr=Cond((f"{address}/32",)),
                    protocol=Cond((protocol,)),
                    dport=Cond((str(port),)),
                ),
                key=f"windows policy {protocol} {port} {address}",
                remove=ALLOW_RULE.format(address=address, protocol=protocol.upper(), port=port),
                policy=True,
            )
        )
    return found


# ---------------------------------------------------------------------------------------
# WFP


@dataclass(frozen=True)
class WfpFilter:
    name: str
    filter_id: str
    provider: str  # its display name, or key
    provider_key: str
    layer: str
    action: str  # FWP_ACTION_BLOCK, FWP_ACTION_PERMIT, FWP_ACTION_CALLOUT_...
    match: Match


def parse_wfp_filters(data: bytes) -> list[WfpFilter]:
    """`netsh wfp show filters` XML; raises ParseError for what is not that."""
    root = parse_tree(data, MAX_WFP_ELEMENTS)
    if root.tag != "wfpdiag":
        raise ParseError(f"the root element is <{root.tag}>, not <wfpdiag>")
    providers = {
        item.child_text("providerKey") or "": (item.find("displayData", "name") or Element("")).text
        for item in _items(root.child("providers"))
    }
    found: list[WfpFilter] = []
    for item in _items(root.child("filters")):
        key = item.child_text("providerKey") or ""
        found.append(
            WfpFilter(
                name=(item.find("displayData", "name") or Element("")).text or "(unnamed)",
                filter_id=item.child_text("filterId") or "?",
                provider=providers.get(key) or key or "no provider",
                provider_key=key,
                layer=item.child_text("layerKey") or "",
                action=(item.find("action", "type") or Element("")).text,
                match=_conditions(item.child("filterCondition")),
            )
        )
    return found


def wfp_block_rules(filters: Iterable[WfpFilter]) -> list[Rule]:
    """Outbound block filters of other software than the Windows Firewall, as rules."""
    found: list[Rule] = []
    for item in filters:
        if item.action != "FWP_ACTION_BLOCK" or not OUTBOUND_LAYERS.search(item.layer):
            continue
        if item.provider_key in MPSSVC_PROVIDERS:
            continue
        found.append(
            Rule(
                "wfp",
                "WFP",
                "OUTPUT",
                f'"{item.name}" (filter {item.filter_id}, provider {item.provider})',
                "BLOCK",
                item.match,
                key=f"wfp {item.filter_id}",
                remove=(
                    f"the software that installed provider {item.provider!r} owns it: "
                    f"reconfigure or remove it (`netsh wfp show filters` lists filter "
                    f"{item.filter_id})"
                ),
            )
        )
    return found


def _items(parent: Element | None) -> Iterator[Element]:
    return (c for c in (parent.children if parent is not None else []) if c.tag == "item")


def _conditions(parent: Element | None) -> Match:
    daddr: list[str] = []
    ports: list[str] = []
    protocols: list[str] = []
    negated = {"daddr": False, "port": False, "protocol": False}
    unknown = False
    for item in _items(parent):
        field = item.child_text("fieldKey") or ""
        value = item.child("conditionValue")
        not_equal = (item.child_text("matchType") or "") == "FWP_MATCH_NOT_EQUAL"
        if field == "FWPM_CONDITION_IP_REMOTE_ADDRESS":
            daddr += _addresses(value)
            negated["daddr"] |= not_equal
        elif field == "FWPM_CONDITION_IP_REMOTE_PORT":
            ports += _numbers(value)
            negated["port"] |= not_equal
        elif field == "FWPM_CONDITION_IP_PROTOCOL":
            protocols += [PROTOCOLS.get(n, n) for n in _numbers(value)]
            negated["protocol"] |= not_equal
        else:
            unknown = True  # an application, a user, an interface: it may match
    return Match(
        daddr=Cond(tuple(daddr), negated["daddr"]) if daddr else None,
        dport=Cond(tuple(ports), negated["port"]) if ports else None,
        protocol=Cond(tuple(protocols), negated["protocol"]) if protocols else None,
        unknown=unknown,
    )


def _addresses(value: Element | None) -> list[str]:
    if value is None:
        return []
    kind = value.child_text("type")
    if kind == "FWP_UINT32":
        return [f"{value.child_text('uint32')}/32"]
    if kind == "FWP_V4_ADDR_MASK":
        mask = value.child("v4AddrMask") or Element("")
        try:
            network = ipaddress.IPv4Network(
                f"{mask.child_text('addr')}/{mask.child_text('mask')}", strict=False
            )
        except ValueError:
            return ["0.0.0.0/0"]
        return [str(network)]
    if kind == "FWP_RANGE_TYPE":
        low = (value.find("rangeValue", "valueLow") or Element("")).child_text("uint32")
        high = (value.find("rangeValue", "valueHigh") or Element("")).child_text("uint32")
        try:
            first, last = ipaddress.IPv4Address(low or ""), ipaddress.IPv4Address(high or "")
        except ValueError:
            return ["0.0.0.0/0"]
        return [str(n) for n in ipaddress.summarize_address_range(first, last)]
    return ["0.0.0.0/0"]  # a form we do not read: it may match


def _numbers(value: Element | None) -> list[str]:
    if value is None:
        return []
    kind = value.child_text("type") or ""
    if kind == "FWP_RANGE_TYPE":
        low = value.find("rangeValue", "valueLow") or Element("")
        high = value.find("rangeValue", "valueHigh") or Element("")
        first = next((c.text for c in low.children if c.tag != "type"), "")
        last = next((c.text for c in high.children if c.tag != "type"), "")
        return [f"{first}-{last}"]
    number = next((c.text for c in value.children if c.tag != "type"), "")
    return [number] if number else []


# ---------------------------------------------------------------------------------------
# The machine


@dataclass(frozen=True)
class WindowsExtras:
    """What `read_windows_extras` found besides the rules."""

    profiles: tuple[Profile, ...]
    wfp_rules: tuple[Rule, ...]
    sources: tuple[str, ...]
    notes: tuple[str, ...]


TempDir = Callable[[], "contextlib.AbstractContextManager[str]"]


def read_windows_extras(
    system: System,
    target: str,
    deadline: Deadline,
    temp_dir: TempDir = tempfile.TemporaryDirectory,
) -> WindowsExtras:
    """The profiles' policies and the WFP filters that match `target` (the latter needs
    Administrator), within the deadline. `temp_dir` gives the directory netsh writes its
    XML to, removed afterwards."""
    sources: list[str] = []
    notes: list[str] = []
    profiles: list[Profile] = []
    shown = system.run_command(
        ["netsh", "advfirewall", "show", "allprofiles"], deadline.remaining()
    )
    if shown.ok:
        profiles = parse_allprofiles(shown.stdout)
        sources.append("netsh advfirewall show allprofiles")
    else:
        notes.append(f"netsh advfirewall show allprofiles: {_why(shown)}")
    rules: list[Rule] = []
    with temp_dir() as directory:
        path = os.path.join(directory, "filters.xml")
        argv = [
            "netsh",
            "wfp",
            "show",
            "filters",
            "dir=OUT",
            f"remoteaddr={target}",
            f"file={path}",
        ]
        done = system.run_command(argv, deadline.remaining())
        if not done.ok:
            notes.append(f"netsh wfp show filters: {_why(done)} (it needs Administrator)")
        else:
            try:
                with system.open_file(path) as handle:
                    data = handle.read(MAX_WFP_BYTES + 1)
                if len(data) > MAX_WFP_BYTES:
                    notes.append(f"the WFP filter list is over {MAX_WFP_BYTES >> 20} MiB: not read")
                else:
                    rules = wfp_block_rules(parse_wfp_filters(data))
                    sources.append(" ".join(argv[:6]))
            except (OSError, ParseError) as exc:
                notes.append(f"netsh wfp show filters: {exc}")
    return WindowsExtras(tuple(profiles), tuple(rules), tuple(sources), tuple(notes))


def _why(done: CommandResult) -> str:
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.error or (lines[-1] if lines else f"exit status {done.returncode}")
