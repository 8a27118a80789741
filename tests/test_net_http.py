"""net.http.get against loopback servers: bounded, capped, never through a proxy."""

from __future__ import annotations

import socket
from http.client import HTTPResponse

import pytest

from tests.bounds import AMPLE_S, finishes
from tests.servers import (
    HOST,
    STALL_AFTER,
    VERSIONS_XML,
    BlackholePort,
    FakeHttpServer,
    HttpMode,
    refusing_port,
)
from wirecheck.model import Deadline
from wirecheck.net import http
from wirecheck.net.errors import NetOutcome

PATH = "/?comp=versions"


class ClosingRead1Response(HTTPResponse):
    """read1 as in CPython 3.13 and later 3.11/3.12 releases (gh-113199): it closes the
    connection with the body's last byte, and with `Connection: close` that closes the
    socket itself. Older releases leave it open until the next read1 finds nothing left.
    """

    def read1(self, n: int = -1) -> bytes:
        data = super().read1(n)
        if self.length == 0 and self.fp is not None:
            fp, self.fp = self.fp, None
            fp.close()
        return data


# Both read1 behaviours, on whatever Python runs the tests.
READ1_BEHAVIOURS = pytest.mark.parametrize(
    "response_class",
    [HTTPResponse, ClosingRead1Response],
    ids=["this-python", "read1-closes"],
)


@READ1_BEHAVIOURS
@pytest.mark.parametrize("size", [0, 1, 1000, 64 * 1024, 64 * 1024 + 1])
def test_a_complete_body_is_read_whether_or_not_read1_closes_the_connection(
    response_class: type[HTTPResponse], size: int
) -> None:
    body = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    with FakeHttpServer(HttpMode.VERSIONS, body=body) as server:
        reply = http.get(HOST, server.port, PATH, Deadline(2.0), response_class=response_class)
    assert (reply.outcome, reply.status, reply.detail) == (NetOutcome.CONNECTED, 200, "")
    assert reply.truncated is (size > http.DEFAULT_MAX_BODY)
    assert reply.body == body[: http.DEFAULT_MAX_BODY]


@READ1_BEHAVIOURS
def test_a_short_body_is_incomplete_whether_or_not_read1_closes_the_connection(
    response_class: type[HTTPResponse],
) -> None:
    with FakeHttpServer(HttpMode.SHORT_BODY) as server:
        reply = http.get(HOST, server.port, PATH, Deadline(2.0), response_class=response_class)
    assert reply.outcome is NetOutcome.BAD_RESPONSE
    assert "IncompleteRead" in reply.detail


def test_versions_answer_and_the_request_we_send() -> None:
    with FakeHttpServer(HttpMode.VERSIONS) as server:
        reply = http.get(HOST, server.port, PATH, Deadline(2.0))
    assert reply.outcome is NetOutcome.CONNECTED
    assert reply.connect.connected
    assert (reply.status, reply.reason) == (200, "OK")
    assert reply.body == VERSIONS_XML
    assert not reply.truncated
    assert reply.headers["content-type"].startswith("text/xml")
    head = server.requests[0].decode("ascii").split("\r\n")
    assert head[0] == f"GET {PATH} HTTP/1.1"
    assert "Connection: close" in head
    assert f"Host: {HOST}:{server.port}" in head


@pytest.mark.parametrize(
    "variable", ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "https_proxy"]
)
def test_proxy_settings_in_the_environment_are_ignored(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # A proxy that would refuse: if the request went there, it would fail.
    monkeypatch.setenv(variable, f"http://{HOST}:{refusing_port()}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with FakeHttpServer(HttpMode.VERSIONS) as server:
        reply = http.get(HOST, server.port, PATH, Deadline(2.0))
    assert reply.status == 200
    # Direct, origin-form request line: a proxy request would carry the absolute URL.
    assert server.requests[0].startswith(f"GET {PATH} ".encode())


def test_http_500() -> None:
    with FakeHttpServer(HttpMode.HTTP_500) as server:
        reply = http.get(HOST, server.port, PATH, Deadline(2.0))
    assert reply.outcome is NetOutcome.CONNECTED
    assert (reply.status, reply.reason) == (500, "Internal Server Error")
    assert b"InternalError" in reply.body


def test_huge_body_is_capped_at_64_kib() -> None:
    # The server sends 128 KiB of a promised 4 MiB and then nothing: a client that went on
    # reading past its cap (draining the body) would wait for the rest until the deadline.
    deadline = Deadline(AMPLE_S)
    with FakeHttpServer(HttpMode.HUGE_STALLS, huge_size=4 * 1024 * 1024) as server:
        reply = http.get(HOST, server.port, PATH, deadline)
    assert reply.status == 200
    assert reply.truncated
    assert len(reply.body) == http.DEFAULT_MAX_BODY == 64 * 1024 < STALL_AFTER
    assert not deadline.expired  # it stopped reading at the cap
    assert reply.outcome is NetOutcome.CONNECTED


def test_body_exactly_at_the_cap_is_not_truncated() -> None:
    body = b"x" * 1000
    with FakeHttpServer(HttpMode.VERSIONS, body=body) as server:
        reply = http.get(HOST, server.port, PATH, Deadline(2.0), max_body=1000)
    assert (reply.body, reply.truncated) == (body, False)


@pytest.mark.parametrize("trickle_head", [False, True], ids=["body", "head-and-body"])
def test_trickle_ends_at_the_deadline_as_a_timeout(trickle_head: bool) -> None:
    deadline = Deadline(0.6)
    # A byte every 0.05 s: the whole answer would take 25 s and more.
    with FakeHttpServer(HttpMode.TRICKLE, trickle_s=0.05, trickle_head=trickle_head) as server:
        reply = finishes(lambda: http.get(HOST, server.port, PATH, deadline))
    # A cut-short body must not pass for a complete one.
    assert reply.outcome is NetOutcome.TIMEOUT
    assert reply.status is None
    assert reply.detail == "the deadline passed mid-response"
    assert deadline.expired


def test_silent_server_times_out_at_the_deadline() -> None:
    deadline = Deadline(0.3)
    with FakeHttpServer(HttpMode.SILENT) as server:
        reply = finishes(lambda: http.get(HOST, server.port, PATH, deadline))
    assert reply.connect.connected
    assert reply.outcome is NetOutcome.TIMEOUT
    assert deadline.expired  # it waited for an answer until the deadline, not less


def test_non_http_bytes_are_a_bad_response() -> None:
    with FakeHttpServer(HttpMode.NOT_HTTP) as server:
        reply = http.get(HOST, server.port, PATH, Deadline(2.0))
    assert reply.connect.connected
    assert reply.outcome is NetOutcome.BAD_RESPONSE
    assert "BadStatusLine" in reply.detail
    assert reply.status is None


def test_a_body_cut_short_by_the_server_is_not_taken_as_complete() -> None:
    with FakeHttpServer(HttpMode.SHORT_BODY) as server:
        reply = http.get(HOST, server.port, PATH, Deadline(2.0))
    assert reply.outcome is NetOutcome.BAD_RESPONSE
    assert "IncompleteRead" in reply.detail
    assert reply.body == b""


def test_refused_keeps_the_connect_result() -> None:
    reply = http.get(HOST, refusing_port(), PATH, Deadline(2.0))
    assert reply.outcome is NetOutcome.REFUSED
    assert reply.connect.outcome is NetOutcome.REFUSED
    assert reply.connect.errno_name is not None


def test_blackholed_connect_times_out_within_the_deadline() -> None:
    deadline = Deadline(0.3)
    with BlackholePort() as blackhole:
        # Unbounded, the kernel would retry the SYN for about two minutes.
        reply = finishes(lambda: http.get(HOST, blackhole.port, PATH, deadline))
    assert reply.outcome is NetOutcome.TIMEOUT
    assert not reply.connect.connected
    assert deadline.expired


def test_extra_headers_are_sent() -> None:
    with FakeHttpServer(HttpMode.VERSIONS) as server:
        http.get(HOST, server.port, PATH, Deadline(2.0), headers={"Metadata": "true"})
    assert b"\r\nMetadata: true\r\n" in server.requests[0]


class _RecvTimesOut(socket.socket):
    """Connects for real; every read then times out at once, long before the run's deadline."""

    def recv_into(self, *args: object, **kwargs: object) -> int:
        raise socket.timeout("timed out")  # what 3.9 raises: not a TimeoutError there


def test_a_socket_timeout_before_the_deadline_is_a_timeout() -> None:
    with FakeHttpServer(HttpMode.VERSIONS) as server:
        reply = http.get(HOST, server.port, PATH, Deadline(5.0), socket_factory=_RecvTimesOut)
    assert reply.connect.connected
    assert (reply.outcome, reply.detail) == (NetOutcome.TIMEOUT, "TimeoutError: timed out")
