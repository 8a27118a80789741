"""imds against IMDS stand-ins on 127.0.0.1 (never the real 169.254.169.254)."""

from __future__ import annotations

import errno

from tests.bounds import AMPLE_S, finishes
from tests.conftest import fixture_bytes, fixture_text
from tests.context_fakes import FakeMachine, context
from tests.servers import HOST, BlackholePort, ErrnoSocket, FakeHttpServer, HttpMode, refusing_port
from wirecheck.checks.imds import run_imds
from wirecheck.model import Ports, RunConfig, Status
from wirecheck.platform.imds import ImdsNic, outbound_public_ip, parse_network

NETWORK = fixture_bytes("imds-network.json")


def _config(port: int) -> RunConfig:
    return RunConfig(imds_address=HOST, ports=Ports(imds=port))


def _machine(mac: str = "00:0d:3a:4b:5c:6d") -> FakeMachine:
    return FakeMachine(
        files={
            "/proc/net/route": fixture_text("proc-net-route"),
            "/sys/class/net/eth0/address": f"{mac}\n",
        },
        environ={"http_proxy": "http://10.0.0.5:3128", "no_proxy": ""},
    )


def test_parse_network_fixture() -> None:
    assert parse_network(NETWORK) == [
        ImdsNic("000D3A4B5C6D", ("10.1.0.4",), ("20.51.7.193",)),
        ImdsNic("000D3A4B5C7E", ("10.1.1.5",), ()),  # an empty public IP is no public IP
    ]


def test_outbound_public_ip_follows_the_default_route_nic() -> None:
    nics = parse_network(NETWORK)
    assert outbound_public_ip(nics, "00:0d:3a:4b:5c:6d")[0] == "20.51.7.193"
    public, why = outbound_public_ip(nics, "00-0D-3A-4B-5C-7E")
    assert public is None and "NAT gateway" in why
    public, why = outbound_public_ip(nics, None)
    assert public == "20.51.7.193" and why.startswith("the first NIC IMDS lists")
    assert outbound_public_ip([], None) == (None, "IMDS lists no NIC")


def test_answer_with_nics_and_outbound_ip_directly_with_the_header() -> None:
    with FakeHttpServer(HttpMode.VERSIONS, body=NETWORK) as server:
        outcome = run_imds(context(_machine(), _config(server.port)))
    assert outcome.status is Status.OK
    assert outcome.evidence["nics"] == [
        {"mac": "000D3A4B5C6D", "private_ipv4": ["10.1.0.4"], "public_ipv4": ["20.51.7.193"]},
        {"mac": "000D3A4B5C7E", "private_ipv4": ["10.1.1.5"], "public_ipv4": []},
    ]
    assert outcome.evidence["outbound_public_ip"] == "20.51.7.193"
    assert "2 NIC(s): 000D3A4B5C6D 10.1.0.4 (public 20.51.7.193); 000D3A4B5C7E 10.1.1.5" in (
        outcome.finding
    )
    (request,) = server.requests
    assert request.startswith(b"GET /metadata/instance/network?api-version=2021-02-01 HTTP/1.1")
    assert b"\r\nMetadata: true\r\n" in request
    assert b"10.0.0.5" not in request  # the environment's proxy is not used


def test_proxy_agent_header_is_recorded() -> None:
    with FakeHttpServer(
        HttpMode.VERSIONS, body=NETWORK, extra_headers={"x-ms-azure-host-authorization": "x"}
    ) as server:
        outcome = run_imds(context(_machine(), _config(server.port)))
    assert outcome.evidence["guest_proxy_agent_header"] is True


def test_refused_is_a_quick_warning_naming_a_local_rule() -> None:
    ctx = context(_machine(), _config(refusing_port()), timeout_s=AMPLE_S)
    outcome = run_imds(ctx)
    assert not ctx.deadline.expired  # quick: the refusal, not a timeout
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith("IMDS is not reachable: refused")
    assert outcome.fix and "A local rule rejects traffic to 127.0.0.1" in outcome.fix


def test_blocked_locally() -> None:
    machine = _machine()
    machine.socket_factory = lambda *_a: ErrnoSocket(errno.EPERM, immediate=True)
    outcome = run_imds(context(machine, _config(80)))
    assert outcome.status is Status.WARN
    assert outcome.evidence["outcome"] == "blocked"


def test_blackholed_ends_at_the_deadline() -> None:
    with BlackholePort() as hole:
        ctx = context(_machine(), _config(hole.port), timeout_s=0.6)
        outcome = finishes(lambda: run_imds(ctx))
    assert ctx.deadline.expired  # it waited on the blackhole until the deadline, not less
    assert outcome.status is Status.WARN
    assert "timed out" in outcome.finding
    assert outcome.fix and "only inside an Azure VM" in outcome.fix


def test_http_error_and_garbage_are_warnings() -> None:
    with FakeHttpServer(HttpMode.HTTP_500) as server:
        outcome = run_imds(context(_machine(), _config(server.port)))
    assert (outcome.status, outcome.finding) == (
        Status.WARN,
        "IMDS answered HTTP 500 Internal Server Error",
    )
    with FakeHttpServer(HttpMode.GARBAGE) as server:
        outcome = run_imds(context(_machine(), _config(server.port)))
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith("the IMDS network answer is not JSON")
    with FakeHttpServer(HttpMode.SILENT) as server:
        outcome = run_imds(context(_machine(), _config(server.port), timeout_s=0.4))
    assert outcome.status is Status.WARN and "no complete answer" in outcome.finding


def test_the_real_imds_is_never_asked_for_another_target() -> None:
    machine = _machine()
    outcome = run_imds(context(machine, RunConfig(target=HOST)))
    assert outcome.status is Status.SKIP
    assert "this run targets 127.0.0.1" in outcome.finding
