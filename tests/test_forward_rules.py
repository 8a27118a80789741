"""Rules on the forwarding path that drop containers' and pods' traffic to the platform:
recorded on a node built like an AKS node (AgentBaker's FORWARD rules verbatim, counters
from real pod probes), and a custom rule."""

from __future__ import annotations

from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine
from wirecheck.checks.catalogue import load_all
from wirecheck.checks.firewall import assess, flows
from wirecheck.model import RunConfig, Status
from wirecheck.platform.firewall.forward import forward_blocks, forward_chains
from wirecheck.platform.firewall.model import Snapshot
from wirecheck.platform.firewall.parsers import parse_iptables_list, parse_iptables_save
from wirecheck.platform.forwarding import Forwarding, read_forwarding

WS, IMDS = "168.63.129.16", "169.254.169.254"
FLOWS = [(f.address, f.protocol, f.port) for f in flows(load_all(), RunConfig())]
CUSTOM = (
    "*filter\n:FORWARD ACCEPT [0:0]\n"
    f"[3:180] -A FORWARD -s 10.244.0.0/16 -d {WS}/32 -j DROP\nCOMMIT\n"
)


def test_aks_rules_are_found_and_known_as_aks_own() -> None:
    rules = parse_iptables_save(fixture_text("iptables-save-aks-filter-forward.txt"))
    blocks = forward_blocks(rules, {}, FLOWS)
    assert [(b.text(), b.aks, b.rule.packets) for b in blocks] == [
        (f"{IMDS} (TCP 80)", True, 2),
        (f"{WS} (TCP 32526)", True, 0),
        (f"{WS} (TCP 80)", True, 2),
    ]
    # The generic KUBE-FORWARD INVALID drop does not name the platform: not listed.
    assert "filter KUBE-FORWARD" in forward_chains(rules, {})


def test_the_imds_restriction_in_mangle_and_the_listing_form() -> None:
    mangle = parse_iptables_save(fixture_text("iptables-save-aks-mangle-forward.txt"))
    (block,) = forward_blocks(mangle, {}, FLOWS)
    assert block.aks and block.rule.table == "mangle"
    listed = parse_iptables_list(fixture_text("iptables-aks-forward-line-numbers.txt"), "filter")
    assert [b.aks for b in forward_blocks(listed, {}, FLOWS)] == [True, True, True]


def test_a_custom_rule_is_not_aks_and_warns_when_the_vm_forwards() -> None:
    rules = parse_iptables_save(CUSTOM)
    (block,) = forward_blocks(rules, {}, FLOWS)
    assert not block.aks
    assert block.text() == f"{WS} (TCP 80, TCP 32526, UDP 53, TCP 53)"
    after = Snapshot(tuple(rules), ("iptables-save -c",))
    traffic = flows(load_all(), RunConfig())
    forwarding = Forwarding(True, ("cni0",), ("veth1",))
    outcome = assess(after, after, traffic, set(), {"tcp-80"}, WS, forwarding=forwarding)
    assert outcome.status is Status.WARN
    assert outcome.finding.startswith(
        f"containers or pods behind this VM (ip_forward=1, cni0, veth1) cannot reach {WS} "
        "(TCP 80, TCP 32526, UDP 53, TCP 53): iptables rule "
        f"`-A FORWARD -s 10.244.0.0/16 -d {WS}/32 -j DROP` (filter/FORWARD) drops that forwarded "
        "traffic, 3 packet(s) so far"
    )
    assert (
        outcome.fix
        and f"`iptables -t filter -D FORWARD -s 10.244.0.0/16 -d {WS}/32 -j DROP`" in (outcome.fix)
    )
    # A VM that does not forward: the rule concerns nobody.
    quiet = assess(after, after, traffic, set(), {"tcp-80"}, WS, forwarding=Forwarding(False))
    assert quiet.status is Status.OK and quiet.evidence["forwarding"] == "ip_forward=0"


def test_aks_rules_are_said_but_not_a_warning() -> None:
    rules = parse_iptables_save(fixture_text("iptables-save-aks-filter-forward.txt"))
    after = Snapshot(tuple(rules), ("iptables-save -c",))
    traffic = flows(load_all(), RunConfig())
    outcome = assess(after, after, traffic, set(), {"tcp-80"}, WS, forwarding=Forwarding(True))
    assert outcome.status is Status.OK
    assert outcome.finding.endswith(
        f"; pods cannot reach {IMDS} (TCP 80); {WS} (TCP 32526, TCP 80) (AKS's own FORWARD "
        "rules, by design)"
    )


def test_read_forwarding_from_proc_and_sys() -> None:
    machine = FakeMachine(
        files={"/proc/sys/net/ipv4/ip_forward": "1\n"},
        dirs={
            "/sys/class/net": ["cni0", "eth0", "lo", "veth3f2a"],
            "/sys/class/net/cni0/bridge": ["bridge_id"],
        },
    )
    found = read_forwarding(machine.system())
    assert found == Forwarding(True, ("cni0",), ("veth3f2a",))
    assert found.describe() == "ip_forward=1; bridges cni0; container interfaces veth3f2a"
    assert read_forwarding(FakeMachine().system()) is None
