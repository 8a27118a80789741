"""Translate socket errors into the outcomes a person can act on."""

from __future__ import annotations

import errno
import os
import socket

from wirecheck.strenum import StrEnum


class NetOutcome(StrEnum):
    CONNECTED = "connected"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    BLOCKED = "blocked"  # EPERM/EACCES: a local firewall rule or policy said no
    BAD_RESPONSE = "bad-response"
    ERROR = "error"


# What a timed-out socket operation raises: socket.timeout on 3.9, an OSError with no errno
# that is not a TimeoutError there; from 3.10 on socket.timeout is TimeoutError itself.
TIMEOUT_ERRORS: tuple[type[OSError], ...] = (TimeoutError, socket.timeout)


# Windows' connect() fails with WSAEACCES (10013) when the Windows Firewall, a WFP filter
# (a VPN client, an EDR or security product) or another local policy refuses the connection:
# nothing left the VM. Windows' errno.EACCES is the C runtime's 13, not this code, and other
# systems have no name for it.
WSAEACCES = 10013
_WINSOCK = {
    WSAEACCES: (
        "WSAEACCES",
        "An attempt was made to access a socket in a way forbidden by its access permissions",
    ),
}

_BY_ERRNO = {
    errno.ECONNREFUSED: NetOutcome.REFUSED,
    errno.ECONNRESET: NetOutcome.REFUSED,
    errno.ETIMEDOUT: NetOutcome.TIMEOUT,
    errno.EHOSTUNREACH: NetOutcome.UNREACHABLE,
    errno.ENETUNREACH: NetOutcome.UNREACHABLE,
    errno.EHOSTDOWN: NetOutcome.UNREACHABLE,
    errno.EADDRNOTAVAIL: NetOutcome.UNREACHABLE,
    errno.EPERM: NetOutcome.BLOCKED,
    errno.EACCES: NetOutcome.BLOCKED,
    WSAEACCES: NetOutcome.BLOCKED,
}

# What each outcome means for the person at the console.
MEANING = {
    NetOutcome.CONNECTED: "connected",
    NetOutcome.REFUSED: "refused: something answered with a reset or port-unreachable",
    NetOutcome.TIMEOUT: "timed out: packets are silently dropped on the way (or by the host)",
    NetOutcome.UNREACHABLE: "unreachable: no route, or a router said the host cannot be reached",
    NetOutcome.BLOCKED: "blocked locally: the system refused to send (a local firewall rule)",
    NetOutcome.BAD_RESPONSE: "answered with something that is not a valid response",
    NetOutcome.ERROR: "failed",
}


def classify_errno(code: int | None) -> NetOutcome:
    if code is None:
        return NetOutcome.ERROR
    if code == 0:
        return NetOutcome.CONNECTED
    return _BY_ERRNO.get(code, NetOutcome.ERROR)


def classify_exception(exc: BaseException) -> NetOutcome:
    if isinstance(exc, TIMEOUT_ERRORS):
        return NetOutcome.TIMEOUT
    if isinstance(exc, OSError):
        return classify_errno(exc.errno)
    return NetOutcome.ERROR


def errno_name(code: int) -> str:
    """`ECONNREFUSED`, `WSAEACCES`, or the number."""
    if code in _WINSOCK:
        return _WINSOCK[code][0]
    return errno.errorcode.get(code, str(code))


def errno_text(code: int) -> str:
    """`EPERM (Operation not permitted)`; Windows socket codes with Windows' own words."""
    if code in _WINSOCK:
        return "{} ({})".format(*_WINSOCK[code])
    return f"{errno_name(code)} ({os.strerror(code)})"


def describe(exc: BaseException) -> str:
    """`ECONNREFUSED (Connection refused)` style text for evidence."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{errno_name(exc.errno)} ({exc.strerror or _WINSOCK.get(exc.errno, ('', ''))[1]})"
    # One name for a timeout on every Python (3.9 calls it `timeout`).
    name = "TimeoutError" if isinstance(exc, TIMEOUT_ERRORS) else type(exc).__name__
    return f"{name}: {exc}" if str(exc) else name
