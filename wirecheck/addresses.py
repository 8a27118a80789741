"""Address predicates: the ground floor, importable from every layer."""

from __future__ import annotations

import ipaddress


def is_ipv4(text: str) -> bool:
    """True for a dotted-quad IPv4 address (no prefix, no port)."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def is_ip(text: str) -> bool:
    """True for an IPv4 or IPv6 address (no prefix, no port)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
