"""Static or DHCP, per interface, from each configuration tool's recorded files."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import fixture_text
from tests.context_fakes import FakeMachine
from wirecheck.model import Deadline
from wirecheck.platform.netconfig import (
    DHCP,
    NONE,
    STATIC,
    InterfaceConfig,
    parse_ifcfg,
    parse_ifupdown,
    parse_netplan,
    parse_networkd,
    parse_nm_keyfile,
    parse_yaml_subset,
    read_netconfig,
    resolve,
)

MAC = "00:0d:3a:4b:5c:6d"


def test_netplan_static_and_dhcp() -> None:
    (static,) = parse_netplan(fixture_text("netplan-static-no-dhcp.yaml"), "/etc/netplan/50.yaml")
    assert static == InterfaceConfig(
        "eth0", STATIC, "/etc/netplan/50.yaml", "netplan", ("10.1.0.4/24",), MAC
    )
    # cloud-init's secondary IP is a static address beside DHCP: the interface uses DHCP.
    (dhcp,) = parse_netplan(fixture_text("netplan-50-cloud-init-secondary-ip.yaml"), "x")
    assert (dhcp.method, dhcp.addresses) == (DHCP, ("10.1.0.5/24",))


@pytest.mark.parametrize(
    "name", ["netplan-static-no-dhcp.yaml", "netplan-50-cloud-init-secondary-ip.yaml"]
)
def test_the_yaml_subset_reads_netplan_as_yaml_does(name: str) -> None:
    def strings(value: object) -> object:  # the subset keeps numbers as text
        if isinstance(value, dict):
            return {k: strings(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strings(v) for v in value]
        return value if isinstance(value, (bool, str)) or value is None else str(value)

    text = fixture_text(name)
    assert parse_yaml_subset(text) == strings(yaml.safe_load(text))


def test_yaml_subset_flow_and_quotes() -> None:
    text = (
        "network:\n  ethernets:\n"
        '    "eth1": {dhcp4: "no", addresses: [10.1.1.5/24, "fd00::5/64"]}\n'
    )
    (config,) = parse_netplan(text, "x")
    assert (config.interface, config.method, config.addresses) == ("eth1", STATIC, ("10.1.1.5/24",))


@given(st.text(max_size=300))
def test_yaml_subset_never_raises(text: str) -> None:
    parse_netplan(text, "x")


def test_rhel_ifcfg() -> None:
    static = parse_ifcfg(fixture_text("ifcfg-eth0-rhel-static"), "/x/ifcfg-eth0", suse=False)
    assert static == InterfaceConfig("eth0", STATIC, "/x/ifcfg-eth0", "ifcfg", ("10.1.0.4",))
    dhcp = parse_ifcfg(fixture_text("ifcfg-eth0-rhel-dhcp"), "/x/ifcfg-eth0", suse=False)
    assert dhcp is not None and dhcp.method == DHCP
    assert (
        parse_ifcfg("DEVICE=lo\nBOOTPROTO=none\nIPADDR=127.0.0.1\n", "/x/ifcfg-lo", False) is None
    )


def test_suse_ifcfg_empty_bootproto_is_static_and_none_is_nothing() -> None:
    static = parse_ifcfg(fixture_text("sles-ifcfg-eth0-static"), "/y/ifcfg-eth0", suse=True)
    assert static == InterfaceConfig(
        "eth0", STATIC, "/y/ifcfg-eth0", "ifcfg (SUSE)", ("10.1.0.4/24",)
    )
    dhcp = parse_ifcfg(fixture_text("sles-ifcfg-eth0-dhcp"), "/y/ifcfg-eth0", suse=True)
    assert dhcp is not None and dhcp.method == DHCP
    empty = parse_ifcfg("BOOTPROTO=''\nIPADDR='10.1.0.4/24'\n", "/y/ifcfg-eth1", suse=True)
    assert empty is not None and (empty.interface, empty.method) == ("eth1", STATIC)
    none = parse_ifcfg("BOOTPROTO='none'\n", "/y/ifcfg-eth2", suse=True)
    assert none is not None and none.method == NONE


def test_networkmanager_keyfile() -> None:
    config = parse_nm_keyfile(fixture_text("nm-keyfile-eth0-static.nmconnection"), "k")
    assert config == InterfaceConfig("eth0", STATIC, "k", "NetworkManager", ("10.1.0.4/24",))
    auto = fixture_text("nm-keyfile-eth0-static.nmconnection").replace(
        "method=manual", "method=auto"
    )
    assert (parse_nm_keyfile(auto, "k") or config).method == DHCP


def test_networkd_matched_by_mac_is_resolved_to_the_interface() -> None:
    config = parse_networkd(fixture_text("networkd-10-eth0-static.network"), "n")
    assert config == InterfaceConfig(
        f"MAC {MAC}", STATIC, "n", "systemd-networkd", ("10.1.0.4/24",), MAC
    )
    assert [c.interface for c in resolve([config], {"lo": None, "eth0": MAC, "eth1": None})] == [
        "eth0"
    ]
    dhcp = parse_networkd("[Match]\nName=eth*\n[Network]\nDHCP=ipv4\n", "n")
    assert dhcp is not None and dhcp.method == DHCP
    assert [c.interface for c in resolve([dhcp], {"eth0": None, "eth1": None, "lo": None})] == [
        "eth0",
        "eth1",
    ]


def test_ifupdown() -> None:
    (config,) = parse_ifupdown(fixture_text("debian-etc-network-interfaces-static"), "i")
    assert config == InterfaceConfig("eth0", STATIC, "i", "ifupdown", ("10.1.0.4/24",))
    text = "auto lo\niface lo inet loopback\niface eth1 inet dhcp\n"
    assert [(c.interface, c.method) for c in parse_ifupdown(text, "i")] == [("eth1", DHCP)]


def test_read_the_machine_static_only_where_no_tool_says_dhcp() -> None:
    machine = FakeMachine(
        files={
            "/etc/netplan/50-static.yaml": fixture_text("netplan-static-no-dhcp.yaml"),
            "/etc/sysconfig/network-scripts/ifcfg-eth1": fixture_text(
                "ifcfg-eth0-rhel-static"
            ).replace("DEVICE=eth0", "DEVICE=eth1"),
            "/run/systemd/network/10-netplan-eth1.network": (
                "[Match]\nName=eth1\n[Network]\nDHCP=ipv4\n"
            ),
            "/sys/class/net/eth0/address": MAC + "\n",
        },
        dirs={
            "/etc/netplan": ["50-static.yaml", "README"],
            "/etc/sysconfig/network-scripts": ["ifcfg-eth1", "ifup-eth"],
            "/run/systemd/network": ["10-netplan-eth1.network"],
            "/sys/class/net": ["eth0", "eth1", "lo"],
        },
    )
    config = read_netconfig(machine.system(), Deadline(10))
    assert [c.interface for c in config.static_only()] == ["eth0"]
    assert config.dhcp_interfaces() == ["eth1"]
    assert config.files == (
        "/etc/netplan/50-static.yaml",
        "/etc/sysconfig/network-scripts/ifcfg-eth1",
        "/run/systemd/network/10-netplan-eth1.network",
    )


def test_a_spent_budget_is_named() -> None:
    machine = FakeMachine(
        files={"/etc/netplan/50.yaml": fixture_text("netplan-static-no-dhcp.yaml")},
        dirs={"/etc/netplan": ["50.yaml"]},
    )
    config = read_netconfig(machine.system(), Deadline(0))
    assert config.configs == ()
    assert config.incomplete == ("not read before the time budget ran out: /etc/netplan/50.yaml",)
