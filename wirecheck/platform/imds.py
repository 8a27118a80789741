"""IMDS `/metadata/instance/network`: the VM's NICs as the platform knows them. Pure.

IMDS does not promise NIC order; MACs are 12 hex digits without separators; a public IP
may be an empty string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wirecheck.errors import ParseError
from wirecheck.platform.routes import normalize_mac

NETWORK_PATH = "/metadata/instance/network?api-version=2021-02-01"


@dataclass(frozen=True)
class ImdsNic:
    """One NIC as IMDS lists it."""

    mac: str  # 12 hex digits, as IMDS gives it
    private_ipv4: tuple[str, ...] = ()  # the first is the NIC's primary IP configuration
    public_ipv4: tuple[str, ...] = ()


def parse_network(body: bytes | str) -> list[ImdsNic]:
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise ParseError(f"the IMDS network answer is not JSON: {exc}") from None
    interfaces = document.get("interface") if isinstance(document, dict) else None
    if not isinstance(interfaces, list):
        raise ParseError("the IMDS network answer has no `interface` list")
    nics = []
    for item in interfaces:
        if not isinstance(item, dict):
            continue
        ipv4 = item.get("ipv4")
        listed = ipv4.get("ipAddress") if isinstance(ipv4, dict) else None
        addresses = [a for a in listed or [] if isinstance(a, dict)]
        nics.append(
            ImdsNic(
                mac=normalize_mac(str(item.get("macAddress", ""))) or "",
                private_ipv4=tuple(_strings(a.get("privateIpAddress") for a in addresses)),
                public_ipv4=tuple(_strings(a.get("publicIpAddress") for a in addresses)),
            )
        )
    return nics


def nic_evidence(nic: ImdsNic) -> dict[str, Any]:
    """The form the imds check's evidence carries (read back by egress-nic)."""
    return {
        "mac": nic.mac,
        "private_ipv4": list(nic.private_ipv4),
        "public_ipv4": list(nic.public_ipv4),
    }


def outbound_public_ip(nics: list[ImdsNic], egress_mac: str | None) -> tuple[str | None, str]:
    """The instance-level public IP outbound traffic leaves with, and why that one.

    Outbound traffic leaves by the NIC that holds the default route, from its primary IP
    configuration (the first IMDS lists); without one, the platform's SNAT applies.
    """
    if not nics:
        return None, "IMDS lists no NIC"
    wanted = normalize_mac(egress_mac)
    nic = next((n for n in nics if wanted and n.mac == wanted), None)
    why = "the NIC that holds the default route"
    if nic is None:
        nic, why = nics[0], "the first NIC IMDS lists (the default route's NIC is unknown)"
    if nic.public_ipv4:
        return nic.public_ipv4[0], f"{why} ({nic.mac}) has a public IP"
    return None, (
        f"{why} ({nic.mac}) has no instance-level public IP: outbound traffic uses a NAT "
        "gateway, a load balancer's outbound rule or the platform's default SNAT"
    )


def _strings(values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str) and v]
