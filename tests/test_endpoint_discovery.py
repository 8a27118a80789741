"""endpoint: how the agent finds WireServer when no dhclient lease says it (other DHCP
clients, a /32 route, static discovery, a static address); and Windows' adapters."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine, context, ok
from wirecheck.checks.endpoint import EndpointFacts, WindowsNicFacts, run_endpoint
from wirecheck.model import Status
from wirecheck.platform.windows_nics import parse_ipconfig_all

WS = "168.63.129.16"
NOW = datetime(2026, 10, 2, 12, 0, tzinfo=timezone.utc)
NETPLAN = "/etc/netplan/50-cloud-init.yaml"
ROUTE_PRINT = ("route", "print", "-4")
IPCONFIG = ("ipconfig", "/all")


def _static_machine() -> FakeMachine:
    """A statically configured VM: no lease anywhere, no /32 route to the platform."""
    return FakeMachine(
        files={NETPLAN: fixture_text("netplan-static-no-dhcp.yaml")},
        dirs={"/etc/netplan": ["50-cloud-init.yaml"]},
    )


def test_a_static_address_without_lease_or_route_is_named_with_the_fix() -> None:
    outcome = run_endpoint(context(_static_machine()), lambda: NOW)
    assert outcome.status is Status.WARN
    assert outcome.finding == (
        "the guest agent cannot find WireServer: no DHCP lease with option 245, no "
        f"/var/lib/waagent/WireServerEndpoint, no /32 route to {WS}, and the address is "
        f"configured statically (eth0: static 10.1.0.4/24 (netplan {NETPLAN})): the agent's own "
        "DHCP request goes unanswered, so it stays Not Ready"
    )
    assert outcome.fix == (
        f"Configure eth0 by DHCP (`dhcp4: true` for eth0 in {NETPLAN}, then `netplan apply`): "
        "Azure's DHCP keeps the VM's private IP and gives option 245 and the routes to the "
        "platform. Or keep the static address and set `Protocol.EndpointDiscovery=static` in "
        "/etc/waagent.conf (guest agent 2.14 or later), then restart the agent: it then uses "
        f"{WS} without DHCP."
    )
    facts = outcome.facts
    assert isinstance(facts, EndpointFacts) and not facts.found
    assert outcome.evidence["address_configuration"] == [
        f"eth0: static 10.1.0.4/24 (netplan {NETPLAN})"
    ]


def test_the_agents_static_discovery_setting_makes_it_fine() -> None:
    machine = _static_machine()
    machine.files["/etc/waagent.conf"] = "Protocol.EndpointDiscovery=static\n"
    outcome = run_endpoint(context(machine), lambda: NOW)
    assert outcome.status is Status.OK
    assert "Protocol.EndpointDiscovery=static" in outcome.finding
    assert outcome.evidence["endpoint_discovery"] == "static"


def test_a_route_to_the_platform_is_how_the_agent_finds_it() -> None:
    machine = _static_machine()
    machine.files["/proc/net/route"] = fixture_text("proc-net-route")
    outcome = run_endpoint(context(machine), lambda: NOW)
    assert outcome.status is Status.OK
    assert outcome.finding.startswith(
        f"no DHCP lease records option 245, but the /32 route to {WS} is how the agent finds "
        f"WireServer: it uses {WS} without asking DHCP; /32 route: {WS}/32 via 10.1.0.1"
    )


def test_a_wicked_lease_is_found_where_the_agent_would_not_look() -> None:
    machine = FakeMachine(
        files={
            "/var/lib/wicked/lease-eth0-dhcp-ipv4.xml": fixture_text(
                "wicked-lease-eth0-dhcp-ipv4.xml"
            )
        },
        dirs={"/var/lib/wicked": ["lease-eth0-dhcp-ipv4.xml"]},
    )
    outcome = run_endpoint(context(machine), lambda: NOW)
    assert outcome.status is Status.OK
    assert outcome.finding == (
        f"WireServer endpoint {WS}, as the agent would find it (option 245 on eth0 = {WS} in "
        "/var/lib/wicked/lease-eth0-dhcp-ipv4.xml)"
    )


def test_what_could_not_be_read_is_said_not_no_endpoint() -> None:
    machine = FakeMachine(
        files={
            "/var/lib/NetworkManager/internal-0f8fad5b-d9cb-469f-a165-70867728950e-eth0.lease": (
                fixture_text("nm-internal-eth0.lease")
            )
        },
        dirs={
            "/var/lib/NetworkManager": ["internal-0f8fad5b-d9cb-469f-a165-70867728950e-eth0.lease"]
        },
    )
    outcome = run_endpoint(context(machine), lambda: NOW)
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith(
        "no WireServer endpoint found in what could be read, but not everything was read ("
        "/var/lib/NetworkManager/internal-"
    )
    assert "nmcli is not installed" in outcome.finding
    assert "no current lease with option 245" not in outcome.finding


# ---------------------------------------------------------------------------------------
# Windows


def _windows(ipconfig: str, route_print: str) -> FakeMachine:
    return FakeMachine(
        commands={IPCONFIG: ok(fixture_text(ipconfig)), ROUTE_PRINT: ok(fixture_text(route_print))}
    )


def test_windows_dhcp_primary_is_ok() -> None:
    machine = _windows(
        "windows-ipconfig-all-dhcp.txt", "windows-route-print-dhcp-platform-routes.txt"
    )
    outcome = run_endpoint(context(machine, platform="win32"))
    assert outcome.status is Status.OK
    assert outcome.finding == (
        f"the Windows guest agent uses {WS}; the primary adapter Ethernet (10.1.0.4) gets its "
        f"address by DHCP, with {WS}/32 via 10.1.0.1, 169.254.169.254/32 via 10.1.0.1"
    )


def test_windows_static_primary_is_named() -> None:
    machine = _windows(
        "windows-ipconfig-all-static-custom-dns.txt", "windows-route-print-npcap-no-imds-route.txt"
    )
    outcome = run_endpoint(context(machine, platform="win32"))
    assert outcome.status is Status.WARN
    assert outcome.finding == (
        "the primary adapter Ethernet has DHCP disabled (static 10.1.0.5, 10.1.0.4): it has no "
        f"DHCP routes to {WS} and 169.254.169.254, and a static address other than the private "
        "IP Azure assigned cuts the VM off the platform"
    )
    assert outcome.fix and outcome.fix.startswith(
        'Set Ethernet back to DHCP: `Set-NetIPInterface -InterfaceAlias "Ethernet" -Dhcp Enabled`'
    )


def test_windows_npcap_loopback_can_take_imds_traffic() -> None:
    text = fixture_text("windows-ipconfig-all-dhcp.txt") + fixture_text(
        "windows-ipconfig-all-npcap-loopback.txt"
    )
    machine = FakeMachine(
        commands={
            IPCONFIG: ok(text),
            ROUTE_PRINT: ok(fixture_text("windows-route-print-npcap-no-imds-route.txt")),
        }
    )
    outcome = run_endpoint(context(machine, platform="win32"))
    assert outcome.status is Status.WARN
    assert outcome.finding == (
        "Npcap Loopback Adapter (169.254.101.174/16) has an automatic 169.254.x.y address and an "
        "on-link route to 169.254.0.0/16, and no 169.254.169.254/32 route exists: IMDS traffic "
        "can go there instead of Ethernet"
    )
    assert outcome.fix == (
        "Route IMDS by the primary adapter: `route -p add 169.254.169.254 mask 255.255.255.255 "
        "10.1.0.1 metric 1` (or remove the Npcap loopback adapter)."
    )
    facts = outcome.facts
    assert isinstance(facts, WindowsNicFacts) and facts.link_local == ("Npcap Loopback Adapter",)


def test_windows_without_ipconfig_is_a_skip() -> None:
    outcome = run_endpoint(context(FakeMachine(), platform="win32"))
    assert outcome.status is Status.SKIP
    assert outcome.finding == "`ipconfig /all` could not be read: ipconfig is not installed"


def test_ipconfig_continuation_lines_and_headers() -> None:
    (adapter,) = parse_ipconfig_all(fixture_text("windows-ipconfig-all-static-custom-dns.txt"))
    assert (adapter.name, adapter.mac, adapter.dhcp) == ("Ethernet", "00:0d:3a:4b:5c:6d", False)
    assert adapter.ipv4 == ("10.1.0.5", "10.1.0.4")
    assert adapter.gateways == ("10.1.0.1",)
