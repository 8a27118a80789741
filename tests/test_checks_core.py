"""Each core check through its real code path, pointed at loopback servers by RunConfig only."""

from __future__ import annotations

import errno
import functools
import threading
from collections.abc import Iterator
from typing import cast

import pytest

from tests.bounds import AMPLE_S, finishes
from tests.conftest import fixture_bytes
from tests.servers import (
    CORE_IDS,
    HOST,
    BlackholePort,
    DnsMode,
    ErrnoSocket,
    FakeDnsServer,
    FakeHttpServer,
    HttpMode,
    fake_system,
    refusing_port,
)
from wirecheck.checks.base import CheckContext, Outcome
from wirecheck.checks.catalogue import load, load_all, select
from wirecheck.checks.dns import dns_question
from wirecheck.checks.tcp import connect_fix
from wirecheck.errors import UsageError
from wirecheck.model import Deadline, Ports, RunConfig, Status
from wirecheck.net.errors import NetOutcome
from wirecheck.system import SocketFactory, System

OWN_NAME = "vm1.abc.internal.cloudapp.net"

ALL_CHECKS = load_all()


def run(
    check_id: str,
    *,
    http: int = 1,
    plugin: int = 1,
    dns: int = 1,
    timeout_s: float = 2.0,
    system: System | None = None,
    dns_name: str | None = None,
    deadline: Deadline | None = None,
) -> Outcome:
    """Run one check exactly as the runner would, against 127.0.0.1 and these ports.

    The check's deadline is `timeout_s` from now, or `deadline` (the test keeps it to ask
    whether it ran out).
    """
    config = RunConfig(
        target=HOST,
        timeout_s=timeout_s,
        ports=Ports(http=http, host_plugin=plugin, dns=dns),
        dns_name=dns_name,
    )
    ctx = CheckContext(config, deadline or Deadline(timeout_s), system or fake_system())
    return load(check_id).run(ctx)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


# --- the catalogue ---------------------------------------------------------------------


def test_catalogue_ids_titles_and_explanations() -> None:
    ids = [spec.id for spec in ALL_CHECKS]
    assert len(set(ids)) == len(ids)
    # The core probes come first, in the order of the manual procedure's report.
    assert tuple(ids[: len(CORE_IDS)]) == CORE_IDS
    assert all(spec.title and len(spec.explain.splitlines()) >= 2 for spec in ALL_CHECKS)


@pytest.mark.parametrize(
    ("only", "skip", "expected"),
    [
        ((), (), [s.id for s in ALL_CHECKS]),
        (("dns-tcp", "tcp-80"), (), ["tcp-80", "dns-tcp"]),  # catalogue order, not ours
        (
            (),
            ("dns-reverse", "wire-versions"),
            [s.id for s in ALL_CHECKS if s.id not in ("dns-reverse", "wire-versions")],
        ),
        (("tcp-80", "tcp-32526"), ("tcp-80",), ["tcp-32526"]),
    ],
)
def test_select(only: tuple[str, ...], skip: tuple[str, ...], expected: list[str]) -> None:
    assert [s.id for s in select(frozenset(only), frozenset(skip))] == expected


def test_select_refuses_an_empty_selection() -> None:
    with pytest.raises(UsageError, match="no check to run"):
        select(frozenset({"tcp-80"}), frozenset({"tcp-80"}))


def test_select_unknown_ids_names_them_and_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        select(frozenset({"tcp-81", "tcp-80"}), frozenset({"dns"}))
    message = str(caught.value)
    assert "dns, tcp-81" in message
    assert "known: tcp-80, tcp-32526" in message


# --- tcp-80 / tcp-32526 ------------------------------------------------------------------


@pytest.mark.parametrize("check_id", ["tcp-80", "tcp-32526"])
def test_tcp_connected_names_local_address_and_interface(check_id: str) -> None:
    closed = refusing_port()
    with FakeHttpServer() as server:
        # Each check must probe its own port: the other one refuses.
        if check_id == "tcp-80":
            outcome = run(check_id, http=server.port, plugin=closed)
        else:
            outcome = run(check_id, http=closed, plugin=server.port)
    assert outcome.status is Status.OK
    assert outcome.evidence["target"] == f"{HOST}:{server.port}"
    assert outcome.evidence["outcome"] == "connected"
    assert str(outcome.evidence["local_address"]).startswith(f"{HOST}:")
    assert outcome.evidence["interface"] == "lo"
    assert f"from {HOST} on lo" in outcome.finding
    assert outcome.fix is None


def test_tcp_connected_from_an_address_no_interface_holds() -> None:
    with FakeHttpServer() as server:
        outcome = run("tcp-80", http=server.port, system=fake_system(addresses={"eth0": ()}))
    assert outcome.status is Status.OK
    assert outcome.evidence["interface"] is None
    assert " on " not in outcome.finding


def test_tcp_refused() -> None:
    port = refusing_port()
    outcome = run("tcp-32526", plugin=port)
    assert outcome.status is Status.FAIL
    assert "refused" in outcome.finding
    assert outcome.evidence["errno"] == "ECONNREFUSED (Connection refused)"
    assert outcome.fix and "REJECT" in outcome.fix and str(port) in outcome.fix


@pytest.mark.parametrize(("root", "fix_says"), [(True, "drops port"), (False, "as root")])
def test_tcp_timeout_ends_at_the_deadline(root: bool, fix_says: str) -> None:
    deadline = Deadline(0.3)
    with BlackholePort() as blackhole:
        outcome = finishes(
            lambda: run(
                "tcp-80",
                http=blackhole.port,
                timeout_s=0.3,
                system=fake_system(root=root),
                deadline=deadline,
            )
        )
    assert outcome.status is Status.FAIL
    assert outcome.evidence["outcome"] == "timeout"
    assert "timed out" in outcome.finding
    assert outcome.fix and fix_says in outcome.fix
    assert deadline.expired  # it waited for the blackhole until the deadline, not less


@pytest.mark.parametrize(
    ("code", "finding", "fix_says"),
    [
        (errno.EPERM, "blocked locally", "local firewall rule"),
        (errno.ENETUNREACH, "unreachable", "ip route get"),
        (errno.EHOSTUNREACH, "unreachable", "ip route get"),
    ],
)
def test_tcp_outcomes_loopback_cannot_produce(code: int, finding: str, fix_says: str) -> None:
    factory = cast(SocketFactory, lambda family, kind: ErrnoSocket(code, immediate=True))
    outcome = run("tcp-80", http=80, system=fake_system(socket_factory=factory))
    assert outcome.status is Status.FAIL
    assert finding in outcome.finding
    assert str(outcome.evidence["errno"]).startswith(errno.errorcode[code])
    assert outcome.fix and fix_says in outcome.fix


@pytest.mark.parametrize(
    ("outcome", "root", "says"),
    [
        (NetOutcome.TIMEOUT, False, "Run wirecheck as root"),
        (NetOutcome.TIMEOUT, True, "drops port 80 to 168.63.129.16"),
        (NetOutcome.REFUSED, True, "REJECT rule"),
        (NetOutcome.REFUSED, False, "REJECT rule"),
        (NetOutcome.BLOCKED, True, "local firewall rule forbids sending to 168.63.129.16:80"),
        (NetOutcome.UNREACHABLE, True, "ip route get 168.63.129.16"),
        (NetOutcome.ERROR, True, "wirecheck bundle"),
        (NetOutcome.BAD_RESPONSE, True, "168.63.129.16:80"),
    ],
)
def test_connect_fix(outcome: NetOutcome, root: bool, says: str) -> None:
    assert says in connect_fix(outcome, "168.63.129.16", 80, root)


# --- wire-versions -----------------------------------------------------------------------


def test_wire_versions_ok() -> None:
    with FakeHttpServer(HttpMode.VERSIONS) as server:
        outcome = run("wire-versions", http=server.port)
    assert outcome.status is Status.OK, outcome.finding
    assert "2012-11-30 offered" in outcome.finding
    assert outcome.evidence["http_status"] == 200
    assert outcome.evidence["preferred"] == ["2015-04-05"]
    assert "2010-28-10" in outcome.evidence["supported"]
    assert outcome.evidence["body"] == fixture_bytes("versions.xml").decode()
    assert outcome.evidence["url"] == f"http://{HOST}:{server.port}/?comp=versions"
    assert "guest_proxy_agent_header" not in outcome.evidence
    assert server.requests[0].startswith(b"GET /?comp=versions HTTP/1.1\r\n")


def test_wire_versions_minimal_answer_ok() -> None:
    with FakeHttpServer(HttpMode.VERSIONS, body=fixture_bytes("versions-minimal.xml")) as server:
        outcome = run("wire-versions", http=server.port)
    assert outcome.status is Status.OK
    assert outcome.evidence["preferred"] == ["2012-11-30"]


def test_wire_versions_notes_the_guest_proxy_agent_header() -> None:
    headers = {"x-ms-azure-host-authorization": "abc"}
    with FakeHttpServer(HttpMode.VERSIONS, extra_headers=headers) as server:
        outcome = run("wire-versions", http=server.port)
    assert outcome.evidence["guest_proxy_agent_header"] is True


@pytest.mark.parametrize(
    ("mode", "body", "says"),
    [
        (HttpMode.HTTP_500, None, "HTTP 500 Internal Server Error"),
        (HttpMode.GARBAGE, None, "not well-formed XML"),
        (HttpMode.HUGE, None, "larger than 64 KiB"),
        (HttpMode.ENTITY_BOMB, None, "DOCTYPE"),
        (HttpMode.NOT_HTTP, None, "not valid HTTP"),
        (HttpMode.SHORT_BODY, None, "not valid HTTP (IncompleteRead"),
        (
            HttpMode.VERSIONS,
            b"<Versions><Preferred><Version>2015-04-05</Version></Preferred></Versions>",
            "does not offer wire protocol 2012-11-30",
        ),
        (HttpMode.VERSIONS, b"<html>proxy login</html>", "root element is <html>"),
    ],
)
def test_wire_versions_failures(mode: HttpMode, body: bytes | None, says: str) -> None:
    deadline = Deadline(AMPLE_S)
    with FakeHttpServer(mode, body=body) as server:
        outcome = run("wire-versions", http=server.port, timeout_s=AMPLE_S, deadline=deadline)
    assert outcome.status is Status.FAIL
    assert says in outcome.finding
    assert outcome.fix
    assert not deadline.expired  # told apart at once, not at the deadline


def test_wire_versions_huge_body_keeps_only_the_cap() -> None:
    with FakeHttpServer(HttpMode.HUGE, huge_size=2 * 1024 * 1024) as server:
        outcome = run("wire-versions", http=server.port)
    assert outcome.evidence["body_bytes"] == 64 * 1024
    assert len(str(outcome.evidence["body"])) == 64 * 1024


def test_wire_versions_slow_trickle_ends_at_the_deadline_not_later() -> None:
    deadline = Deadline(0.7)
    # A byte every 0.2 s: the whole body would take over a minute and a half.
    with FakeHttpServer(HttpMode.TRICKLE, trickle_s=0.2) as server:
        outcome = finishes(
            lambda: run("wire-versions", http=server.port, timeout_s=0.7, deadline=deadline)
        )
    assert outcome.status is Status.FAIL
    assert "no complete answer came before the deadline" in outcome.finding
    assert outcome.evidence["outcome"] == "timeout"
    assert deadline.expired


def test_wire_versions_refused_and_timeout() -> None:
    refused = run("wire-versions", http=refusing_port())
    assert refused.status is Status.FAIL
    assert refused.finding.startswith("could not connect: refused")
    with BlackholePort() as blackhole:
        timed_out = run("wire-versions", http=blackhole.port, timeout_s=0.3)
    assert timed_out.finding.startswith("could not connect: timed out")
    assert timed_out.fix and "drops port" in timed_out.fix


def test_wire_versions_ignores_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", f"http://{HOST}:{refusing_port()}")
    monkeypatch.setenv("HTTP_PROXY", f"http://{HOST}:{refusing_port()}")
    with FakeHttpServer() as server:
        outcome = run("wire-versions", http=server.port)
    assert outcome.status is Status.OK


# --- dns-udp / dns-tcp -------------------------------------------------------------------

FORWARD = ["dns-udp", "dns-tcp"]


@pytest.mark.parametrize("check_id", FORWARD)
def test_dns_answers_the_vms_own_name_with_its_address(check_id: str) -> None:
    with FakeDnsServer(DnsMode.ANSWER, records={OWN_NAME: "10.0.0.4"}) as server:
        outcome = run(check_id, dns=server.port)
    assert outcome.status is Status.OK, outcome.finding
    assert f"{OWN_NAME} -> 10.0.0.4 (this VM)" in outcome.finding
    assert outcome.evidence["question"] == f"{OWN_NAME} A"
    transport = check_id.removeprefix("dns-")
    assert outcome.evidence["server"] == f"{HOST}:{server.port}/{transport}"
    assert [q.transport for q in server.questions] == [transport]


@pytest.mark.parametrize("check_id", FORWARD)
def test_dns_own_name_resolving_elsewhere_warns(check_id: str) -> None:
    with FakeDnsServer(DnsMode.ANSWER, records={OWN_NAME: "10.9.9.9"}) as server:
        outcome = run(check_id, dns=server.port)
    assert outcome.status is Status.WARN
    assert "10.9.9.9" in outcome.finding and outcome.fix


@pytest.mark.parametrize("check_id", FORWARD)
@pytest.mark.parametrize("mode", [DnsMode.NXDOMAIN, DnsMode.ANSWER])
def test_dns_without_a_suffix_asks_the_configured_name(check_id: str, mode: DnsMode) -> None:
    system = fake_system(resolv_conf="nameserver 10.0.0.1\n")
    with FakeDnsServer(mode, default_address="192.0.2.80") as server:
        outcome = run(check_id, dns=server.port, system=system, dns_name="probe.example.org")
    assert outcome.status is Status.OK
    assert server.questions[0].name == "probe.example.org."
    assert outcome.evidence["rcode"] == ("NXDOMAIN" if mode is DnsMode.NXDOMAIN else "NOERROR")


@pytest.mark.parametrize("check_id", FORWARD)
def test_dns_servfail_warns(check_id: str) -> None:
    with FakeDnsServer(DnsMode.SERVFAIL) as server:
        outcome = run(check_id, dns=server.port)
    assert outcome.status is Status.WARN
    assert "SERVFAIL" in outcome.finding


@pytest.mark.parametrize("check_id", FORWARD)
@pytest.mark.parametrize("mode", [DnsMode.GARBAGE, DnsMode.WRONG_ID])
def test_dns_garbage_and_wrong_id_fail_as_bad_responses(check_id: str, mode: DnsMode) -> None:
    with FakeDnsServer(mode) as server:
        outcome = run(check_id, dns=server.port)
    assert outcome.status is Status.FAIL
    assert outcome.evidence["outcome"] == "bad-response"
    assert "not a valid response" in outcome.finding
    assert outcome.fix and "malformed DNS" in outcome.fix


@pytest.mark.parametrize("check_id", FORWARD)
def test_dns_silent_fails_at_the_deadline(check_id: str) -> None:
    deadline = Deadline(0.3)
    with FakeDnsServer(DnsMode.SILENT) as server:
        outcome = finishes(lambda: run(check_id, dns=server.port, timeout_s=0.3, deadline=deadline))
    assert outcome.status is Status.FAIL
    assert outcome.evidence["outcome"] == "timeout"
    transport = check_id.removeprefix("dns-").upper()
    assert outcome.fix and f"Allow {transport} port {server.port}" in outcome.fix
    assert deadline.expired


@pytest.mark.parametrize(
    ("resolv_conf", "hostname", "dns_name", "question"),
    [
        ("search abc.internal.cloudapp.net\n", "vm1", None, (OWN_NAME, True)),
        (
            "search corp.example abc.internal.cloudapp.net\n",
            "vm1.corp.example",
            None,
            (OWN_NAME, True),
        ),
        ("search corp.example\n", "vm1", None, ("vm1.corp.example", True)),
        ("nameserver 10.0.0.1\n", "vm1", "x.example", ("x.example", False)),
        (None, "vm1", None, ("www.microsoft.com", False)),  # unreadable resolv.conf
    ],
)
def test_dns_question_from_the_system(
    resolv_conf: str | None, hostname: str, dns_name: str | None, question: tuple[str, bool]
) -> None:
    ctx = CheckContext(
        RunConfig(dns_name=dns_name),
        Deadline(1.0),
        fake_system(resolv_conf=resolv_conf, hostname=hostname),
    )
    asked = dns_question(ctx)
    assert (asked.name, asked.own_name) == question


# --- dns-reverse -------------------------------------------------------------------------


def test_dns_reverse_ptr_present_warns() -> None:
    with FakeDnsServer(DnsMode.PTR, ptr_name="wire.example.net.") as server:
        outcome = run("dns-reverse", dns=server.port)
    assert outcome.status is Status.WARN
    assert "wire.example.net" in outcome.finding
    assert outcome.evidence["question"] == "1.0.0.127.in-addr.arpa. PTR"
    assert {(q.transport, q.rdtype) for q in server.questions} == {("udp", "PTR"), ("tcp", "PTR")}
    assert outcome.fix


def test_dns_reverse_system_resolver_name_warns() -> None:
    with FakeDnsServer(DnsMode.NXDOMAIN) as server:
        system = fake_system(reverse=lambda address: "myhost.corp.example")
        outcome = run("dns-reverse", dns=server.port, system=system)
    assert outcome.status is Status.WARN
    assert "myhost.corp.example (via system resolver)" in outcome.finding


def test_dns_reverse_nxdomain_is_ok() -> None:
    with FakeDnsServer(DnsMode.NXDOMAIN) as server:
        outcome = run("dns-reverse", dns=server.port)
    assert outcome.status is Status.OK
    assert "no reverse name" in outcome.finding
    assert outcome.evidence["direct UDP"] == "NXDOMAIN"
    assert outcome.evidence["system resolver"] == "no name (host not found)"


def test_dns_reverse_nothing_answers_fails(release: threading.Event) -> None:
    def stuck(address: str) -> str | None:
        release.wait(60)
        return None

    deadline = Deadline(0.3)
    with FakeDnsServer(DnsMode.SILENT) as server:
        system = fake_system(reverse=stuck)
        outcome = finishes(
            lambda: run(
                "dns-reverse", dns=server.port, timeout_s=0.3, system=system, deadline=deadline
            )
        )
    assert outcome.status is Status.FAIL
    # The system resolver is still stuck (until teardown): the check came back without it.
    assert outcome.evidence["system resolver"] == "no answer before the deadline"
    # The lookup's own timeout and the gather's deadline are the same instant: either text.
    assert str(outcome.evidence["direct UDP"]).startswith(("timeout", "no answer before"))
    assert deadline.expired


def test_dns_reverse_resolver_error_and_garbage_fail() -> None:
    def broken(address: str) -> str | None:
        raise OSError("temporary failure in name resolution")

    with FakeDnsServer(DnsMode.GARBAGE) as server:
        outcome = run("dns-reverse", dns=server.port, system=fake_system(reverse=broken))
    assert outcome.status is Status.FAIL
    assert "could not ask" in str(outcome.evidence["system resolver"])
    assert str(outcome.evidence["direct TCP"]).startswith("bad-response")


def test_every_check_is_bounded_by_an_expired_deadline(release: threading.Event) -> None:
    """No time left: every check still returns at once, with a row, and does not hang."""

    def stuck(address: str) -> str | None:
        release.wait(60)
        return None

    system = fake_system(reverse=stuck)
    with BlackholePort() as blackhole, FakeDnsServer(DnsMode.SILENT) as server:
        for spec in select(frozenset(CORE_IDS), frozenset()):
            # Each would hang on its silent endpoint (dns-reverse on the stuck resolver)
            # if anything in it waited without a bound.
            outcome = finishes(
                functools.partial(
                    run,
                    spec.id,
                    http=blackhole.port,
                    plugin=blackhole.port,
                    dns=server.port,
                    timeout_s=0.0,
                    system=system,
                )
            )
            assert outcome.status is Status.FAIL, (spec.id, outcome.finding)


# --- a name DNS cannot ask is wirecheck's error, not the network's ----------------------------


@pytest.mark.parametrize(
    ("hostname", "resolv_conf", "source"),
    [
        ("v" * 70, "search abc.internal.cloudapp.net\n", "host name"),
        ("vm1", "search " + "s" * 64 + ".internal.cloudapp.net\n", "search domain"),
    ],
)
def test_an_over_long_name_is_an_error_naming_it_and_dns_is_still_probed(
    hostname: str, resolv_conf: str, source: str
) -> None:
    from wirecheck.checks.catalogue import load_all
    from wirecheck.diagnose import diagnose
    from wirecheck.model import CheckResult

    system = fake_system(hostname=hostname, resolv_conf=resolv_conf)
    results = []
    with FakeDnsServer(DnsMode.NXDOMAIN) as server:
        for check_id in FORWARD:
            outcome = run(check_id, dns=server.port, system=system, dns_name="probe.example.org")
            results.append(
                CheckResult(
                    check_id, check_id, outcome.status, outcome.finding, facts=outcome.facts
                )
            )
            assert outcome.status is Status.ERROR, outcome.finding
            assert f"the {source} gives the name" in outcome.finding
            assert "at most 63" in outcome.finding
            assert "asked probe.example.org instead" in outcome.finding
            assert outcome.fix and ("hostnamectl" in outcome.fix or "search domain" in outcome.fix)
            assert outcome.evidence["question"] == "probe.example.org A"
        # DNS was asked, with the valid name only.
        assert {q.name for q in server.questions} == {"probe.example.org."}
    specs = {spec.id: spec for spec in load_all(FORWARD)}
    causes = diagnose(results, HOST, specs)
    text = " ".join(f"{c.summary} {c.fix}" for c in causes)
    assert "port 53" not in text and "cannot be reached" not in text, text
    assert causes[0].checks in (("dns-udp",), ("dns-tcp",))
    assert "which DNS cannot ask" in causes[0].summary


def test_the_network_still_fails_a_probe_asked_with_the_valid_name() -> None:
    """A bad host name and a resolver that does not answer: the network's failure, with
    the name problem said too."""
    system = fake_system(hostname="v" * 70)
    with FakeDnsServer(DnsMode.SILENT) as server:
        outcome = run("dns-udp", dns=server.port, system=system, timeout_s=0.3)
    assert outcome.status is Status.FAIL
    assert "timed out" in outcome.finding and "which DNS cannot ask" in outcome.finding
