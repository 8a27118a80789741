"""resolver: the DNS servers the VM asks, found from recorded resolver files and tool output,
asked on loopback (fake DNS servers standing in for the platform resolver and a custom one)."""

from __future__ import annotations

import pytest

from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine, context, ok
from tests.servers import HOST, DnsMode, FakeDnsServer
from wirecheck.checks.resolver import (
    Answer,
    ResolverFacts,
    ServerVerdict,
    judge,
    run_resolver,
    upstreams,
)
from wirecheck.model import Ports, RunConfig, Status
from wirecheck.platform.resolvers import (
    Upstream,
    parse_ipconfig_dns,
    parse_resolvectl_dns,
    parse_resolvectl_status,
    unique,
)

SUFFIX = "k3v2x9wq1ahejd4lmc0tb7pyrf.dx.internal.cloudapp.net"
OWN = f"vm1.{SUFFIX}"
CUSTOM = ["192.0.2.53", "192.0.2.54"]


# ---------------------------------------------------------------------------------------
# Parsers on recorded output


def test_resolvectl_dns_per_link() -> None:
    found = parse_resolvectl_dns(fixture_text("resolvectl-dns.txt"))
    assert [(u.address, u.source) for u in found] == [
        ("192.0.2.53", "resolvectl dns (eth0)"),
        ("192.0.2.54", "resolvectl dns (eth0)"),
    ]


@pytest.mark.parametrize(
    ("name", "servers"),
    [
        ("resolvectl-status-azure-default.txt", ["168.63.129.16"]),
        ("resolvectl-status-custom-dns.txt", CUSTOM),
        ("resolvectl-status-legacy-systemd-resolve.txt", ["168.63.129.16"]),
    ],
)
def test_resolvectl_status_both_layouts(name: str, servers: list[str]) -> None:
    found = parse_resolvectl_status(fixture_text(name))
    assert [u.address for u in found] == servers
    assert all(u.source == "resolvectl status (eth0)" for u in found)


def test_ipconfig_all_servers_continuation_lines_and_suffixes() -> None:
    servers, suffixes = parse_ipconfig_dns(
        fixture_text("windows-ipconfig-all-static-custom-dns.txt")
    )
    assert [(u.address, u.source) for u in servers] == [
        ("192.0.2.53", "ipconfig /all (Ethernet)"),
        ("192.0.2.54", "ipconfig /all (Ethernet)"),
    ]
    assert suffixes == ["reddog.microsoft.com"]
    servers, suffixes = parse_ipconfig_dns(fixture_text("windows-ipconfig-all-dhcp.txt"))
    assert [u.address for u in servers] == ["168.63.129.16"]
    assert suffixes == [SUFFIX]


def test_unique_keeps_ipv4_and_the_first_source() -> None:
    found = unique(
        [
            Upstream("192.0.2.53", "a"),
            Upstream("fec0:0:0:ffff::1", "a"),
            Upstream("192.0.2.53", "b"),
        ]
    )
    assert found == (Upstream("192.0.2.53", "a"),)


def test_the_stub_leads_to_resolveds_upstreams() -> None:
    machine = FakeMachine(
        files={
            "/etc/resolv.conf": fixture_text("run-systemd-resolve-stub-resolv.conf"),
            "/run/systemd/resolve/resolv.conf": fixture_text("run-systemd-resolve-resolv.conf"),
        }
    )
    found, notes, suffixes = upstreams(context(machine))
    assert [(u.address, u.source) for u in found] == [
        ("192.0.2.53", "/run/systemd/resolve/resolv.conf"),
        ("192.0.2.54", "/run/systemd/resolve/resolv.conf"),
    ]
    assert (notes, suffixes) == ([], (SUFFIX,))
    # Without the file, `resolvectl dns` says it.
    del machine.files["/run/systemd/resolve/resolv.conf"]
    machine.commands[("resolvectl", "dns")] = ok(fixture_text("resolvectl-dns.txt"))
    found, _, _ = upstreams(context(machine))
    assert [u.source for u in found] == ["resolvectl dns (eth0)"] * 2
    # An older systemd: `systemd-resolve --status`.
    del machine.commands[("resolvectl", "dns")]
    legacy = fixture_text("resolvectl-status-legacy-systemd-resolve.txt")
    machine.commands[("systemd-resolve", "--status")] = ok(legacy)
    found, _, _ = upstreams(context(machine))
    assert [(u.address, u.source) for u in found] == [("168.63.129.16", "resolvectl status (eth0)")]
    # Neither: a note, no server.
    del machine.commands[("systemd-resolve", "--status")]
    found, notes, _ = upstreams(context(machine))
    assert found == [] and "systemd-resolved's stub" in notes[0]


def test_windows_reads_ipconfig() -> None:
    machine = FakeMachine(
        commands={
            ("ipconfig", "/all"): ok(fixture_text("windows-ipconfig-all-static-custom-dns.txt"))
        }
    )
    found, _, suffixes = upstreams(context(machine, platform="win32"))
    assert [u.address for u in found] == CUSTOM and suffixes == ("reddog.microsoft.com",)


# ---------------------------------------------------------------------------------------
# The check, asking fake servers on loopback


def _machine(resolv_conf: str) -> FakeMachine:
    return FakeMachine(files={"/etc/resolv.conf": resolv_conf})


def _run(machine: FakeMachine, platform_port: int, custom_port: int) -> tuple[Status, str, dict]:
    config = RunConfig(target=HOST, ports=Ports(dns=platform_port))
    outcome = run_resolver(context(machine, config, timeout_s=1.0), upstream_port=custom_port)
    return outcome.status, outcome.finding, outcome.evidence


CONF = f"nameserver {HOST}\nsearch {SUFFIX}\n"


def test_a_custom_server_without_the_vms_name_is_a_warning_naming_it() -> None:
    with (
        FakeDnsServer(DnsMode.ANSWER, records={OWN: "10.1.0.4"}) as platform,
        FakeDnsServer(DnsMode.NXDOMAIN) as custom,
    ):
        status, finding, evidence = _run(_machine(CONF), platform.port, custom.port)
    assert status is Status.WARN
    assert finding == (
        f"DNS server {HOST} (/etc/resolv.conf) answers NXDOMAIN, no address for {OWN}, where the "
        f"platform resolver {HOST} answers 10.1.0.4: it does not resolve the names Azure provides"
    )
    assert evidence["question_from"] == "the VM's own name in its DHCP domain (as dns-udp asks)"
    assert [q.name for q in custom.questions] == [f"{OWN}."]


def test_a_custom_server_that_forwards_is_fine() -> None:
    with (
        FakeDnsServer(DnsMode.ANSWER, records={OWN: "10.1.0.4"}) as platform,
        FakeDnsServer(DnsMode.ANSWER, records={OWN: "10.1.0.4"}) as custom,
    ):
        status, finding, _ = _run(_machine(CONF), platform.port, custom.port)
    assert status is Status.OK
    assert finding == (
        f"this VM asks {HOST} (/etc/resolv.conf), which resolves {OWN} to 10.1.0.4 as the "
        "platform resolver does"
    )


def test_a_silent_custom_server_is_bounded_by_the_deadline_and_named() -> None:
    with (
        FakeDnsServer(DnsMode.ANSWER, records={OWN: "10.1.0.4"}) as platform,
        FakeDnsServer(DnsMode.SILENT) as custom,
    ):
        status, finding, _ = _run(_machine(CONF), platform.port, custom.port)
    assert status is Status.WARN
    # Its query ends just before the check's deadline ("timeout"); on a loaded machine the
    # answers may be collected first ("before the deadline"): either way, it is named.
    assert f"DNS server {HOST} (/etc/resolv.conf) gives no answer " in finding
    assert f" for {OWN}, where the platform resolver" in finding


def test_the_platform_itself_is_not_asked_twice() -> None:
    with FakeDnsServer(DnsMode.ANSWER) as platform:
        status, finding, evidence = _run(_machine(CONF), platform.port, platform.port)
    assert (status, finding) == (Status.OK, f"this VM asks the platform resolver {HOST} directly")
    assert platform.questions == []
    assert evidence["servers"] == [
        {"server": HOST, "from": "/etc/resolv.conf", "is": "the platform resolver"}
    ]


def test_a_placeholder_suffix_asks_the_platform_for_the_vms_azure_name() -> None:
    # With custom DNS in the VNet, DHCP hands out reddog.microsoft.com: the VM's name there
    # means nothing to Azure; the platform's PTR for the VM's address gives the Azure name.
    conf = f"nameserver {HOST}\nsearch reddog.microsoft.com\n"
    with (
        FakeDnsServer(DnsMode.PTR, records={OWN: "10.1.0.4"}, ptr_name=f"{OWN}.") as platform,
        FakeDnsServer(DnsMode.NXDOMAIN) as custom,
    ):
        status, finding, evidence = _run(_machine(conf), platform.port, custom.port)
    assert status is Status.WARN and OWN in finding
    assert evidence["question_from"] == (f"the name {HOST} gives this VM's address {HOST} (PTR)")
    assert [q.rdtype for q in platform.questions] == ["PTR", "A"]


def test_nothing_to_compare_when_the_platform_does_not_know_the_name() -> None:
    with FakeDnsServer(DnsMode.NXDOMAIN) as platform, FakeDnsServer(DnsMode.NXDOMAIN) as custom:
        status, finding, _ = _run(_machine(CONF), platform.port, custom.port)
    assert status is Status.OK and "nothing to compare" in finding


def test_a_run_against_another_target_does_not_ask_the_machines_servers() -> None:
    machine = _machine("nameserver 192.0.2.53\n")
    outcome = run_resolver(context(machine, RunConfig(target=HOST)))
    assert outcome.status is Status.SKIP
    assert outcome.finding == (
        f"this VM's DNS servers (192.0.2.53) are compared with 168.63.129.16 only; this run "
        f"targets {HOST}"
    )


def test_no_resolver_configured_is_a_skip() -> None:
    outcome = run_resolver(context(FakeMachine()))
    assert outcome.status is Status.SKIP
    assert "/etc/resolv.conf" in outcome.finding


def test_judge_when_the_platform_gave_no_answer() -> None:
    upstream = Upstream("192.0.2.53", "/etc/resolv.conf")
    facts = ResolverFacts(
        OWN,
        "test",
        (ServerVerdict(upstream, Answer("192.0.2.53", 53, "connected", "NXDOMAIN"), True),),
        Answer("168.63.129.16", 53, "timeout"),
    )
    outcome = judge(facts, "168.63.129.16")
    assert outcome.status is Status.SKIP
    assert "gave no answer (timeout)" in outcome.finding
