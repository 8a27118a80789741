"""The WireServer/IMDS simulator: its answers (pure) and its servers on loopback."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import fixture_bytes
from wirecheck.errors import ParseError
from wirecheck.lab.scenarios import WireMode
from wirecheck.lab.service import Log
from wirecheck.lab.topology import imds_network
from wirecheck.lab.wireserver import (
    GARBAGE,
    WireConfig,
    WireSimulator,
    imds_reply,
    wire_reply,
)
from wirecheck.model import Deadline
from wirecheck.net import http, tcp
from wirecheck.net.errors import TIMEOUT_ERRORS, NetOutcome
from wirecheck.platform.versions import parse_versions

VERSIONS = "/?comp=versions"


def test_normal_answer_is_the_real_versions_document() -> None:
    reply = wire_reply(WireMode.NORMAL, "GET", VERSIONS)
    assert (reply.status, reply.body) == (200, fixture_bytes("versions.xml"))
    assert parse_versions(reply.body).has_required


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "/", 400),
        ("GET", "/?comp=goalstate", 400),
        ("GET", "/machine?comp=goalstate", 404),
        ("GET", "/health", 404),
        ("HEAD", VERSIONS, 200),
        ("POST", VERSIONS, 405),
    ],
)
def test_other_requests(method: str, target: str, status: int) -> None:
    assert wire_reply(WireMode.NORMAL, method, target).status == status


def test_fault_modes() -> None:
    assert wire_reply(WireMode.HTTP_500, "GET", VERSIONS).status == 500
    malformed = wire_reply(WireMode.MALFORMED, "GET", VERSIONS)
    assert malformed.status == 200
    with pytest.raises(ParseError, match="not well-formed"):
        parse_versions(malformed.body)
    huge = wire_reply(WireMode.HUGE, "GET", VERSIONS)
    assert len(huge.body) > 1024 * 1024
    assert parse_versions(huge.body).has_required  # well-formed, only far too big
    slow = wire_reply(WireMode.SLOW, "GET", VERSIONS)
    assert slow.byte_interval_s * len(slow.body) > 60  # a minute and more: past any deadline
    assert wire_reply(WireMode.GARBAGE, "GET", "/anything").raw == GARBAGE


@given(st.sampled_from(list(WireMode)), st.sampled_from(["GET", "HEAD", "PUT"]), st.text())
def test_any_request_line_gets_an_answer(mode: WireMode, method: str, target: str) -> None:
    reply = wire_reply(mode, method, target)
    assert reply.raw is not None or reply.status in (200, 400, 404, 405, 500)


@pytest.mark.parametrize(
    ("target", "headers", "status"),
    [
        ("/metadata/instance/network?api-version=2021-02-01", {}, 400),
        ("/metadata/instance/network?api-version=2021-02-01", {"Metadata": "false"}, 400),
        ("/metadata/instance/network", {"Metadata": "true"}, 400),
        (
            "/metadata/instance?api-version=2021-02-01",
            {"Metadata": "true", "X-Forwarded-For": "10.0.0.9"},
            403,
        ),
        ("/metadata/instance/network?api-version=2021-02-01", {"metadata": "True"}, 200),
        ("/metadata/instance?api-version=2021-02-01", {"Metadata": "true"}, 200),
        ("/metadata/other?api-version=1", {"Metadata": "true"}, 404),
    ],
)
def test_imds_answers(target: str, headers: dict[str, str], status: int) -> None:
    reply = imds_reply("GET", target, headers, imds_network())
    assert reply.status == status
    document = json.loads(reply.body)
    assert ("error" in document) == (status != 200)


@pytest.fixture
def simulator() -> Iterator[tuple[WireSimulator, dict[str, int], io.StringIO]]:
    log = io.StringIO()
    sim = WireSimulator(
        WireConfig("127.0.0.1", WireMode.NORMAL, 0, 0, "127.0.0.1", 0, imds_network()),
        Log(log, "test"),
    )
    ports = sim.start()
    yield sim, ports, log
    sim.stop()


def test_servers_answer_wirechecks_own_http_client(
    simulator: tuple[WireSimulator, dict[str, int], io.StringIO],
) -> None:
    _, ports, log = simulator
    reply = http.get("127.0.0.1", ports["http"], VERSIONS, Deadline(5))
    assert reply.status == 200 and parse_versions(reply.body).has_required
    imds = http.get(
        "127.0.0.1",
        ports["imds"],
        "/metadata/instance/network?api-version=2021-02-01",
        Deadline(5),
        headers={"Metadata": "true"},
    )
    assert imds.status == 200
    assert json.loads(imds.body)["interface"][0]["macAddress"] == "000D3A4B5C6D"
    assert "GET /?comp=versions -> 200" in log.getvalue()


def test_plugin_port_accepts_and_says_nothing(
    simulator: tuple[WireSimulator, dict[str, int], io.StringIO],
) -> None:
    _, ports, _ = simulator
    result, sock = tcp.connect("127.0.0.1", ports["plugin"], 5)
    assert result.connected and sock is not None
    with sock:
        sock.settimeout(0.3)
        with pytest.raises(TIMEOUT_ERRORS):
            sock.recv(1)


def test_slow_mode_outlasts_the_clients_deadline() -> None:
    sim = WireSimulator(WireConfig("127.0.0.1", WireMode.SLOW, 0, 0), Log(io.StringIO()))
    ports = sim.start()
    try:
        reply = http.get("127.0.0.1", ports["http"], VERSIONS, Deadline(0.6))
    finally:
        sim.stop()
    assert reply.connect.connected
    assert reply.outcome is NetOutcome.TIMEOUT


def test_garbage_mode_is_not_http() -> None:
    sim = WireSimulator(WireConfig("127.0.0.1", WireMode.GARBAGE, 0, 0), Log(io.StringIO()))
    ports = sim.start()
    try:
        reply = http.get("127.0.0.1", ports["http"], VERSIONS, Deadline(3))
    finally:
        sim.stop()
    assert reply.outcome is NetOutcome.BAD_RESPONSE


def test_a_probe_that_resets_is_one_log_line_not_a_traceback(
    simulator: tuple[WireSimulator, dict[str, int], io.StringIO],
) -> None:
    _, ports, log = simulator
    sock = socket.create_connection(("127.0.0.1", ports["http"]))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.send(b"GE")
    sock.close()  # linger 0: a reset
    reply = http.get("127.0.0.1", ports["http"], VERSIONS, Deadline(3))
    assert reply.status == 200
    assert "Traceback" not in log.getvalue()


def test_gpa_mode_answers_like_the_guest_proxy_agents_listener() -> None:
    reply = wire_reply(WireMode.GPA_403, "GET", "/?comp=versions")
    assert reply.raw is not None
    head, _, body = reply.raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 Forbidden\r\n") and body == b""
    assert b"connection: close" in head and b"x-ms-azure-host-authorization" not in head
