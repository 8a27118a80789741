"""errno and exception classification: every outcome a person must act on differently."""

from __future__ import annotations

import errno
import http.client
import socket

import pytest

from wirecheck.net.errors import MEANING, NetOutcome, classify_errno, classify_exception, describe


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (None, NetOutcome.ERROR),
        (0, NetOutcome.CONNECTED),
        (errno.ECONNREFUSED, NetOutcome.REFUSED),
        (errno.ECONNRESET, NetOutcome.REFUSED),
        (errno.ETIMEDOUT, NetOutcome.TIMEOUT),
        (errno.EHOSTUNREACH, NetOutcome.UNREACHABLE),
        (errno.ENETUNREACH, NetOutcome.UNREACHABLE),
        (errno.EHOSTDOWN, NetOutcome.UNREACHABLE),
        (errno.EADDRNOTAVAIL, NetOutcome.UNREACHABLE),
        # A local netfilter DROP makes the kernel refuse to send: EPERM.
        (errno.EPERM, NetOutcome.BLOCKED),
        (errno.EACCES, NetOutcome.BLOCKED),
        (errno.EINVAL, NetOutcome.ERROR),
        (errno.EMFILE, NetOutcome.ERROR),
        (99999, NetOutcome.ERROR),
    ],
)
def test_classify_errno(code: int | None, outcome: NetOutcome) -> None:
    assert classify_errno(code) is outcome


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (TimeoutError(), NetOutcome.TIMEOUT),
        (TimeoutError("timed out"), NetOutcome.TIMEOUT),
        # What a socket with a timeout raises on 3.9: an OSError that is not a TimeoutError.
        (socket.timeout(), NetOutcome.TIMEOUT),
        (socket.timeout("timed out"), NetOutcome.TIMEOUT),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), NetOutcome.REFUSED),
        (ConnectionResetError(errno.ECONNRESET, "reset"), NetOutcome.REFUSED),
        (PermissionError(errno.EPERM, "Operation not permitted"), NetOutcome.BLOCKED),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), NetOutcome.UNREACHABLE),
        (OSError("no errno"), NetOutcome.ERROR),
        (ValueError("not a network error"), NetOutcome.ERROR),
        (http.client.BadStatusLine("x"), NetOutcome.ERROR),
    ],
)
def test_classify_exception(exc: BaseException, outcome: NetOutcome) -> None:
    assert classify_exception(exc) is outcome


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (OSError(errno.ECONNREFUSED, "Connection refused"), "ECONNREFUSED (Connection refused)"),
        (OSError(errno.EPERM, "Operation not permitted"), "EPERM (Operation not permitted)"),
        (OSError(4242, "odd"), "4242 (odd)"),
        (ValueError("bad label"), "ValueError: bad label"),
        (EOFError(), "EOFError"),
        (TimeoutError(), "TimeoutError"),
        (socket.timeout("timed out"), "TimeoutError: timed out"),
    ],
)
def test_describe(exc: BaseException, text: str) -> None:
    assert describe(exc) == text


def test_a_socket_timeout_on_this_python_is_a_timeout() -> None:
    # Whatever class this interpreter raises (socket.timeout on 3.9, TimeoutError later).
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()) as client,
    ):
        client.settimeout(0.01)
        with pytest.raises(OSError) as caught:
            client.recv(1)
    assert classify_exception(caught.value) is NetOutcome.TIMEOUT
    assert describe(caught.value) == "TimeoutError: timed out"


def test_every_outcome_has_a_meaning() -> None:
    assert set(MEANING) == set(NetOutcome)
    assert all(MEANING[outcome] for outcome in NetOutcome)
    # Distinct words: a person must be able to tell the outcomes apart.
    assert len(set(MEANING.values())) == len(NetOutcome)
