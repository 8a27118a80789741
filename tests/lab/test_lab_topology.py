"""The build plan: every command acts inside a lab namespace, links only join lab namespaces."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.conftest import fixture_text
from wirecheck.lab import topology
from wirecheck.lab.names import lab_names, vm_fqdn
from wirecheck.lab.scenarios import SCENARIOS, Scenario, scenario
from wirecheck.platform.leases import parse_dhclient_leases
from wirecheck.platform.resolv import choose_question, parse_resolv_conf
from wirecheck.platform.waagent import conf_proxy, firewall_enabled, parse_conf

NAMES = lab_names("t1")


def _plan(item: Scenario) -> topology.Plan:
    return topology.plan(NAMES, item, "myvm.example.org")


def _namespace_of(argv: tuple[str, ...]) -> str:
    """The namespace a planned command acts in; fails for anything else."""
    if argv[:3] == ("ip", "netns", "add"):
        return argv[3]
    if argv[:2] == ("ip", "-n"):
        return argv[2]
    if argv[:3] == ("ip", "netns", "exec"):
        return argv[3]
    raise AssertionError(f"command does not name its namespace: {argv}")


@pytest.mark.parametrize("item", SCENARIOS, ids=lambda s: s.name)
def test_every_command_acts_inside_a_lab_namespace(item: Scenario) -> None:
    built = _plan(item)
    for argv in built.commands:
        assert _namespace_of(argv) in built.namespaces, argv


@pytest.mark.parametrize("item", SCENARIOS, ids=lambda s: s.name)
def test_links_are_veth_pairs_between_lab_namespaces_with_short_names(item: Scenario) -> None:
    built = _plan(item)
    links = [argv for argv in built.commands if argv[3:5] == ("link", "add")]
    assert links
    for argv in links:
        if argv[-2:] == ("type", "bridge"):  # a pod's bridge, inside the VM
            assert argv[2] == NAMES.vm and len(argv[5]) <= 15
            continue
        assert "veth" in argv
        peer_ns = argv[argv.index("netns") + 1]
        assert peer_ns in built.namespaces and peer_ns != argv[2]
        for name in (argv[5], argv[argv.index("peer") + 2]):
            assert len(name) <= 15


def test_only_the_appliance_forwards() -> None:
    built = _plan(scenario("appliance-hop"))
    assert built.namespaces == (NAMES.vm, NAMES.host, NAMES.appliance)
    forwarding = {
        argv[3]: argv[-1] for argv in built.commands if argv[-1].startswith("net.ipv4.ip_forward")
    }
    assert forwarding == {
        NAMES.vm: "net.ipv4.ip_forward=0",
        NAMES.host: "net.ipv4.ip_forward=0",
        NAMES.appliance: "net.ipv4.ip_forward=1",
    }
    assert NAMES.appliance not in _plan(scenario("healthy")).namespaces


def test_no_namespace_gets_a_default_route_except_the_vm_into_the_lab() -> None:
    for item in SCENARIOS:
        for argv in _plan(item).commands:
            if argv[3:6] == ("route", "add", "default") and argv[2] == NAMES.pod:
                assert argv[7] == "10.244.0.1"  # the pod's, into the VM
            elif argv[3:6] == ("route", "add", "default"):
                assert argv[2] == NAMES.vm
                assert argv[7] in ("10.1.0.1", "10.1.1.1")


def test_a_pod_scenario_forwards_in_the_vm_and_masquerades_the_pod() -> None:
    built = _plan(scenario("pod-forward-drop"))
    assert built.namespaces == (NAMES.vm, NAMES.host, NAMES.pod)
    lines = [" ".join(argv) for argv in built.commands]
    assert f"ip netns exec {NAMES.vm} sysctl -qw net.ipv4.ip_forward=1" in lines
    assert f"ip -n {NAMES.vm} link set vethpod0 master cni0" in lines
    masquerade = "-t nat -A POSTROUTING -s 10.244.0.0/24 -o eth0 -j MASQUERADE"
    assert any(line.endswith(masquerade) and NAMES.vm in line for line in lines)


def test_vm_routes_like_azure_dhcp_and_the_secondary_override() -> None:
    healthy = {" ".join(a[3:]) for a in _plan(scenario("healthy")).commands if a[2] == NAMES.vm}
    assert "route add 168.63.129.16/32 via 10.1.0.1 dev eth0 metric 100" in healthy
    assert "route add 169.254.169.254/32 via 10.1.0.1 dev eth0 metric 100" in healthy
    secondary = [" ".join(a) for a in _plan(scenario("route-secondary")).commands]
    assert any("168.63.129.16/32 via 10.1.1.1 dev eth1 metric 50" in line for line in secondary)


def test_host_answers_only_the_primary_subnet() -> None:
    lines = [" ".join(a) for a in _plan(scenario("healthy")).commands]
    for address in ("168.63.129.16/32", "169.254.169.254/32"):
        rule = f"ip netns exec {NAMES.host} iptables -w -A INPUT -d {address} ! -s 10.1.0.0/24"
        assert any(line.startswith(rule) and line.endswith("-j DROP") for line in lines)


@pytest.mark.parametrize("item", SCENARIOS, ids=lambda s: s.name)
def test_scenario_rules_land_in_their_namespace(item: Scenario) -> None:
    commands = _plan(item).commands
    for rule in item.rules:
        ns = NAMES.vm if rule.where.value == "vm" else NAMES.host
        assert ("ip", "netns", "exec", ns, *rule.argv()) in commands


def test_vm_resolver_config_leads_wirecheck_to_its_own_name() -> None:
    files = topology.vm_etc_files("myvm.example.org")
    conf = parse_resolv_conf(files["resolv.conf"])
    assert conf.nameservers == ("168.63.129.16",)
    question = choose_question("myvm", conf.search, None)
    assert question.own_name and question.name == vm_fqdn("myvm.example.org")
    assert "168.63.129.16" not in files["hosts"]
    assert f"10.1.0.4 {question.name} myvm" in files["hosts"]


def test_dns_records_hold_the_vm_and_an_optional_platform_ptr() -> None:
    plain = topology.dns_records("MyVM", None)
    assert plain["a"] == {f"{vm_fqdn('MyVM')}.": "10.1.0.4"}
    assert "16.129.63.168.in-addr.arpa." not in plain["ptr"]
    with_ptr = topology.dns_records("MyVM", "x.example")
    assert with_ptr["ptr"]["16.129.63.168.in-addr.arpa."] == "x.example."


@pytest.mark.parametrize(
    ("name", "endpoint"), [("healthy", "168.63.129.16"), ("lease-other-245", "10.1.0.99")]
)
def test_lab_lease_is_what_wirechecks_lease_parser_reads_as_option_245(
    name: str, endpoint: str
) -> None:
    text = _plan(scenario(name)).vm_var_lib["dhcp/dhclient.eth0.leases"]
    (lease,) = parse_dhclient_leases(text, "dhclient.eth0.leases")
    assert lease.option_245 == endpoint
    assert lease.interface == "eth0"
    assert lease.expires is not None and lease.expires > datetime.now(timezone.utc)


def test_lease_spells_option_245_as_dhclient_does() -> None:
    text = topology.vm_var_lib_files("10.1.0.99")["dhcp/dhclient.eth0.leases"]
    assert "  option unknown-245 0a:01:00:63;\n" in text


def test_the_vms_etc_layer_holds_its_resolver_and_the_scenarios_own_files() -> None:
    healthy = _plan(scenario("healthy"))
    assert set(healthy.vm_etc_layer) == {"resolv.conf", "hosts"}
    assert healthy.vm_etc_layer == healthy.vm_etc
    nonroot = _plan(scenario("agent-firewall-nonroot"))
    assert set(nonroot.vm_etc_layer) == {"resolv.conf", "hosts", "waagent.conf"}
    conf = parse_conf(nonroot.vm_etc_layer["waagent.conf"])
    assert firewall_enabled(conf) and conf["OS.EnableFirewall"] == "y"
    assert conf_proxy(conf) is None
    # The machine's own agent files, address configuration and leases are hidden from the
    # VM, unless the scenario gives its own.
    assert healthy.vm_etc_hidden == ("waagent.conf", *topology.NETCONFIG_ETC)
    assert nonroot.vm_etc_hidden == topology.NETCONFIG_ETC
    others = tuple(p for p in topology.LEASES_VAR_LIB if p != "dhcp")
    assert healthy.vm_var_lib_hidden == nonroot.vm_var_lib_hidden == ("waagent", *others)
    # The lab's lease is the only one in /var/lib/dhcp; /run stays the machine's.
    assert healthy.vm_var_lib_opaque == ("dhcp",) and healthy.vm_run is None


def test_a_scenario_with_its_own_dhcp_state_lays_its_own_run() -> None:
    nm = _plan(scenario("lease-nm-internal"))
    assert nm.vm_run is not None
    assert list(nm.vm_run.files) == [f"NetworkManager/devices/{topology.IFINDEX}"]
    assert nm.vm_run.opaque == ("NetworkManager",)
    assert "systemd/netif/leases" in nm.vm_run.hidden
    assert nm.vm_var_lib_opaque == ("NetworkManager",)
    assert "dhcp" in nm.vm_var_lib_hidden
    static = _plan(scenario("static-ip-config"))
    assert static.vm_run is not None and static.vm_run.files == {}
    assert static.vm_etc_opaque == ("netplan",)
    vm_routes = [c for c in static.commands if c[:4] == ("ip", "-n", NAMES.vm, "route")]
    assert vm_routes and not any("168.63.129.16/32" in c for c in vm_routes)
    noexec = _plan(scenario("agent-lib-noexec"))
    assert noexec.vm_var_lib_dirs == ("waagent",) and "waagent" not in noexec.vm_var_lib_hidden
    setup = topology.vm_setup(NAMES, noexec) or ""
    assert "mount -t tmpfs -o size=1m,noexec wirecheck-lab /var/lib/waagent" in setup
    assert topology.vm_setup(NAMES, _plan(scenario("healthy"))) is None


@pytest.mark.parametrize(
    "name", ["lease-wicked", "lease-nm-internal", "lease-dhcpcd", "lease-cloud-init"]
)
def test_other_dhcp_clients_leases_read_as_option_245(name: str) -> None:
    from tests.context_fakes import FakeMachine
    from wirecheck.platform.leases import scan_leases

    built = _plan(scenario(name))
    placed = {f"/var/lib/{p}": t for p, t in built.vm_var_lib.items()}
    if built.vm_run is not None:
        for path, content in built.vm_run.files.items():
            placed[f"/run/{path}".replace(topology.IFINDEX, "2")] = content
    dirs: dict[str, list[str]] = {"/sys/class/net": ["eth0"]}
    for path in placed:
        directory, _, leaf = path.rpartition("/")
        dirs.setdefault(directory, []).append(leaf)
    machine = FakeMachine(
        files={p: t for p, t in placed.items() if isinstance(t, str)},
        binary={p: t for p, t in placed.items() if isinstance(t, bytes)},
        dirs=dirs,
    )
    machine.files["/sys/class/net/eth0/ifindex"] = "2\n"
    (lease,) = scan_leases(machine.system(), datetime.now(timezone.utc)).leases
    assert (lease.interface, lease.option_245) == ("eth0", "168.63.129.16")
    assert (
        lease.static_routes[-2:]
        == (
            ("168.63.129.16/32", "10.1.0.1"),
            ("169.254.169.254/32", "10.1.0.1"),
        )
        or name == "lease-cloud-init"
    )


def test_imds_network_has_the_fixtures_shape_and_the_lab_nics() -> None:
    fixture = json.loads(fixture_text("imds-network.json"))
    mine = topology.imds_network()
    assert [n["macAddress"] for n in mine["interface"]] == [
        n["macAddress"] for n in fixture["interface"]
    ]
    for nic, expected in zip(mine["interface"], fixture["interface"]):
        assert nic["ipv4"]["subnet"] == expected["ipv4"]["subnet"]
        assert set(nic) == set(expected)


def test_a_custom_dns_scenario_names_its_server_and_lets_it_reach_the_platform() -> None:
    built = _plan(scenario("custom-dns-nxdomain"))
    assert parse_resolv_conf(built.vm_etc["resolv.conf"]).nameservers == ("192.0.2.53",)
    host = NAMES.host
    assert ("ip", "-n", host, "addr", "add", "192.0.2.53/32", "dev", "lo") in built.commands
    lo_accept = ("ip", "netns", "exec", host, "iptables", "-w", "-I", "INPUT", "-i", "lo")
    assert any(argv[: len(lo_accept)] == lo_accept for argv in built.commands)
    healthy = _plan(scenario("healthy"))
    assert not any(argv[: len(lo_accept)] == lo_accept for argv in healthy.commands)


def test_the_second_ip_scenario_adds_it_before_the_primary_and_lists_it_in_imds() -> None:
    built = _plan(scenario("source-second-ip"))
    order = [argv[5] for argv in built.commands if argv[3:5] == ("addr", "add") and "eth0" in argv]
    assert order == ["10.1.0.5/24", "10.1.0.4/24"]
    primary = topology.imds_network(second_ip=True)["interface"][0]["ipv4"]["ipAddress"]
    assert [a["privateIpAddress"] for a in primary] == ["10.1.0.4", "10.1.0.5"]
