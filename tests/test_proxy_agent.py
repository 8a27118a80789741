"""The GuestProxyAgent's own refusals, from the answers its listener gives (recorded from
its source's `closed_response` and `forward_response`) and its status file."""

from __future__ import annotations

import pytest

from tests.conftest import fixture_bytes, fixture_text
from tests.context_fakes import FakeMachine
from tests.servers import HOST, FakeHttpServer, HttpMode
from wirecheck.checks.base import CheckContext
from wirecheck.checks.imds import run_imds
from wirecheck.checks.wire import run_wire_versions
from wirecheck.model import Deadline, Ports, RunConfig, Status
from wirecheck.platform.proxy_agent import (
    CONFIG_LINUX,
    STATUS_LINUX,
    ProxyAgentRefusal,
    is_own_refusal,
    mode_of,
    secure_channel_state,
)


def _parse(name: str) -> tuple[int, dict[str, str], bytes]:
    head, _, body = fixture_bytes(name).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    ("name", "own"),
    [
        ("gpa-local-403-response.http", True),
        ("gpa-local-421-response.http", True),
        ("gpa-local-502-response.http", True),
        ("gpa-forwarded-200-response-headers.http", False),
    ],
)
def test_its_own_refusals_and_what_it_forwards(name: str, own: bool) -> None:
    assert is_own_refusal(*_parse(name)) is own


def test_a_refusal_the_host_made_carries_the_forwarding_header() -> None:
    status, headers, body = _parse("gpa-local-403-response.http")
    assert not is_own_refusal(status, {**headers, "x-ms-azure-host-authorization": "value"}, body)
    assert not is_own_refusal(status, headers, b"<Error/>")


def test_the_mode_from_its_status_file() -> None:
    state = secure_channel_state(fixture_text("gpa-status.json"))
    assert state == "WireServer Enforce -  IMDS Audit - HostGA Enforce"
    assert (mode_of(state, "wireserver"), mode_of(state, "imds")) == ("enforce", "audit")
    older = secure_channel_state(fixture_text("proxy-agent-status.json"))
    assert mode_of(older, "imds") == "enforce"
    assert mode_of("wireserver", "imds") == "disabled"
    assert mode_of("wireserverandimds", "imds") == "enforce"
    assert mode_of(None, "wireserver") is None
    assert secure_channel_state("not json") is None


@pytest.mark.parametrize(
    ("status", "service", "elevated", "meaning", "fix"),
    [
        (403, "WireServer", False, "every caller that is not root", "sudo wirecheck"),
        (403, "WireServer", True, "in Enforce mode it refuses WireServer", "Audit mode"),
        (403, "IMDS", False, "in Enforce mode it refuses IMDS", "access control profile"),
        (421, "WireServer", True, "no claims", "systemctl restart azure-proxy-agent"),
        (502, "WireServer", True, "could not forward the request to the host", "RUNNING"),
    ],
)
def test_what_each_refusal_means_and_its_fix(
    status: int, service: str, elevated: bool, meaning: str, fix: str
) -> None:
    state = "WireServer Enforce - IMDS Enforce"
    refusal = ProxyAgentRefusal(status, service, state, elevated)
    assert meaning in refusal.meaning()
    assert fix in refusal.fix()
    assert refusal.describe().startswith(f"HTTP {status} from the GuestProxyAgent on this VM (")


GPA_FILES = {
    STATUS_LINUX: fixture_text("gpa-status.json"),
    CONFIG_LINUX: fixture_text("gpa-etc-azure-proxy-agent.json"),
}


def _context(port: int, files: dict[str, str], root: bool) -> CheckContext:
    config = RunConfig(
        target=HOST, timeout_s=2, ports=Ports(http=port, imds=port), imds_address=HOST
    )
    return CheckContext(config, Deadline(2), FakeMachine(files=files, root=root).system())


def test_wire_versions_names_the_agents_refusal_not_wireserver() -> None:
    recorded = fixture_bytes("gpa-local-403-response.http")
    with FakeHttpServer(HttpMode.RAW, body=recorded) as server:
        outcome = run_wire_versions(_context(server.port, GPA_FILES, root=True))
    assert outcome.status is Status.FAIL
    assert outcome.finding.startswith(
        "HTTP 403 from the GuestProxyAgent on this VM (WireServer enforce): in Enforce mode it "
        "refuses WireServer to any process its allow-list"
    )
    assert "did not reach WireServer" in outcome.finding
    assert outcome.fix and "Audit mode" in outcome.fix
    assert "guest_proxy_agent_refusal" in outcome.evidence


def test_without_the_agent_a_403_stays_wireservers() -> None:
    recorded = fixture_bytes("gpa-local-403-response.http")
    with FakeHttpServer(HttpMode.RAW, body=recorded) as server:
        outcome = run_wire_versions(_context(server.port, {}, root=True))
    assert outcome.finding == "WireServer answered HTTP 403 Forbidden"


def test_imds_names_the_agents_refusal() -> None:
    recorded = fixture_bytes("gpa-local-421-response.http")
    with FakeHttpServer(HttpMode.RAW, body=recorded) as server:
        ctx = _context(server.port, GPA_FILES, root=False)
        outcome = run_imds(ctx)
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith("HTTP 421 from the GuestProxyAgent on this VM (IMDS audit)")
