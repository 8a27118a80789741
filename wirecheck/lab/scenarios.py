"""The lab's fault scenarios and the verdict each one expects, for every check.

This is the one place that declares what wirecheck must say in each scenario: the lab
tests compare every check present in a run against it, and fail on a check that has no
declaration here. Each scenario also declares the cause its diagnosis must rank first:
words it must (and must not) say, and the rows it must name.

Keywords are words the check's *finding* must contain (case-insensitive). They are only
given where the wording is settled; a status alone is still a real assertion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wirecheck.checks.catalogue import IDS, load_all
from wirecheck.lab.bulk import Bulk
from wirecheck.lab.names import (
    CUSTOM_DNS_IP,
    POD_BRIDGE,
    POD_SUBNET,
    PREFIX_LEN,
    PRIMARY_GATEWAY,
    SECONDARY_GATEWAY,
    VM_PRIMARY_IP,
    VM_PRIMARY_MAC,
    VM_PRIMARY_SECOND_IP,
)
from wirecheck.model import IMDS_ADDRESS, PLATFORM_ADDRESS, Status
from wirecheck.strenum import StrEnum

# Every check, in display order, and the probes (the checks that send to the target):
# both from the checks' own declarations.
CATALOGUE: tuple[str, ...] = IDS
PROBES: tuple[str, ...] = tuple(spec.id for spec in load_all() if spec.probe)

NOBODY_UID = 65534
PTR_NAME = "dns-proxy.contoso.example"  # what a misconfigured custom DNS server might answer
MISSING_PROXY = "http://10.1.0.99:3128"  # nothing listens there, nothing routes there
OTHER_ENDPOINT = "10.1.0.99"  # a WireServer endpoint that is not the platform address
MISSING_OPENSSL = "/usr/bin/openssl-wirecheck-lab-missing"  # no such program


class WireMode(StrEnum):
    """How the WireServer simulator answers `?comp=versions`."""

    NORMAL = "normal"
    HTTP_500 = "http-500"
    MALFORMED = "malformed"  # truncated XML
    GARBAGE = "garbage"  # bytes that are not HTTP at all
    SLOW = "slow"  # headers at once, then the body a byte at a time, for minutes
    HUGE = "huge"  # a multi-megabyte body
    GPA_403 = "gpa-403"  # the GuestProxyAgent's own 403, as its local listener refuses


class CustomDns(StrEnum):
    """A custom DNS server the VM's resolv.conf names instead of the platform resolver."""

    NXDOMAIN = "nxdomain"  # knows nothing, forwards nowhere: NXDOMAIN for every name
    FORWARD = "forward"  # forwards every question to the platform resolver


class LeaseStore(StrEnum):
    """Where the VM's DHCP client keeps eth0's lease (each carries option 245)."""

    DHCLIENT = "dhclient"  # /var/lib/dhcp/dhclient.eth0.leases (Debian, Ubuntu)
    WICKED = "wicked"  # /var/lib/wicked/lease-eth0-dhcp-ipv4.xml (SLES)
    # NetworkManager's internal client (RHEL 9): ADDRESS= only in its lease file, the
    # options in its device state file /run/NetworkManager/devices/<ifindex>
    NM_INTERNAL = "nm-internal"
    DHCPCD = "dhcpcd"  # /var/lib/dhcpcd/eth0.lease: the DHCP message itself (bytes)
    CLOUD_INIT = "cloud-init"  # /run/dhclient.lease: cloud-init's ephemeral dhclient
    NONE = "none"  # no lease anywhere (a static address)


@dataclass(frozen=True)
class VmMount:
    """A tmpfs mounted over a path in the VM's own mount namespace (its command's only)."""

    path: str  # absolute, under /var/lib
    options: str  # tmpfs options: "size=1m,noexec"
    fill: bool = False  # filled up before wirecheck runs: a full filesystem


class Where(StrEnum):
    VM = "vm"  # the VM's own firewall: what the `firewall` check can see
    HOST = "host"  # upstream: the host (or the network) drops or rejects


@dataclass(frozen=True)
class Rule:
    """One iptables rule appended in a lab namespace."""

    where: Where
    table: str
    chain: str
    spec: tuple[str, ...]

    def argv(self) -> list[str]:
        return ["iptables", "-w", "-t", self.table, "-A", self.chain, *self.spec]

    def text(self) -> str:
        return f"-t {self.table} -A {self.chain} {' '.join(self.spec)}"


@dataclass(frozen=True)
class Expect:
    """The statuses a check may have in a scenario, and words its finding must contain."""

    statuses: frozenset[Status]
    keywords: tuple[str, ...] = ()
    why: str = ""  # why more than one status is acceptable

    def problems(self, status: str, finding: str) -> list[str]:
        """What differs between this expectation and one check's result (empty: matches)."""
        found: list[str] = []
        if status not in {s.value for s in self.statuses}:
            found.append(f"status is {status}, expected {self.describe_statuses()}")
        missing = [k for k in self.keywords if k.lower() not in finding.lower()]
        if missing:
            found.append(f"finding {finding!r} lacks {', '.join(repr(k) for k in missing)}")
        return found

    def describe_statuses(self) -> str:
        return "/".join(s.value for s in Status if s in self.statuses)

    def describe(self) -> str:
        words = f" ({', '.join(self.keywords)})" if self.keywords else ""
        return f"{self.describe_statuses()}{words}"


def _expect(*statuses: Status, keywords: Sequence[str] = (), why: str = "") -> Expect:
    return Expect(frozenset(statuses), tuple(keywords), why)


def ok(*keywords: str) -> Expect:
    return _expect(Status.OK, keywords=keywords)


def warn(*keywords: str) -> Expect:
    return _expect(Status.WARN, keywords=keywords)


def fail(*keywords: str) -> Expect:
    return _expect(Status.FAIL, keywords=keywords)


def skip(*keywords: str) -> Expect:
    return _expect(Status.SKIP, keywords=keywords)


# The lab simulates no agent process and no unit, and its VM sees the agent's files only
# when its scenario gives them (the machine's own are hidden): no agent, a skip.
AGENT_ABSENT = _expect(
    Status.SKIP, keywords=("no Linux guest agent",), why="the lab VM runs no guest agent"
)
# The process table and the service manager are the machine's, though: on a machine that
# runs its own agent (an Azure VM) the row describes that agent, and the lab asserts only
# that it does not fail (see machine_agent_seen).
MACHINE_AGENT = _expect(
    Status.OK,
    Status.SKIP,
    Status.WARN,
    why="the machine's own guest agent shows through (its process table and service "
    "manager are machine-wide)",
)


def machine_agent_seen(check: Mapping[str, Any]) -> bool:
    """Whether a guest-agent (or agent-health) row describes the machine's own agent, not
    the lab VM's.

    The lab never simulates an agent unit, an agent process or the GuestProxyAgent, so
    any of them in the row's evidence is the machine's.
    """
    evidence = check.get("evidence")
    if not isinstance(evidence, Mapping):
        return False
    if check.get("id") == "agent-health":
        return bool(evidence.get("unit"))
    if check.get("id") != "guest-agent":
        return False
    return bool(
        evidence.get("service") or evidence.get("processes") or evidence.get("guest_proxy_agent")
    )


@dataclass(frozen=True)
class ExpectCause:
    """The cause a scenario's diagnosis must rank first.

    keywords: words its summary or fix must contain; absent: words neither may contain;
    checks: exactly the rows it must name (as a set: the order is the diagnosis's own).
    """

    keywords: tuple[str, ...]
    checks: frozenset[str]
    absent: tuple[str, ...] = ()

    def problems(self, cause: Mapping[str, Any] | None) -> list[str]:
        """What differs between this expectation and a report's first cause (empty: matches)."""
        if cause is None:
            return [f"the diagnosis is empty, expected {self.describe()}"]
        text = f"{cause.get('summary', '')} {cause.get('fix', '')}"
        found: list[str] = []
        missing = [k for k in self.keywords if k.lower() not in text.lower()]
        if missing:
            found.append(f"lacks {', '.join(repr(k) for k in missing)}")
        unwanted = [k for k in self.absent if k.lower() in text.lower()]
        if unwanted:
            found.append(f"says {', '.join(repr(k) for k in unwanted)}")
        named = cause.get("checks")
        named_set = {str(c) for c in named} if isinstance(named, list) else set()
        if named_set != self.checks:
            found.append(f"names checks {sorted(named_set)}, expected {sorted(self.checks)}")
        if not found:
            return []
        summary = str(cause.get("summary", ""))
        return [f"first cause {summary!r}: {p}" for p in found]

    def describe(self) -> str:
        words = ", ".join(repr(k) for k in self.keywords)
        unwanted = f", not {', '.join(repr(k) for k in self.absent)}" if self.absent else ""
        return f"{words}{unwanted}, naming {', '.join(sorted(self.checks)) or 'no row'}"


def cause(*keywords: str, checks: Sequence[str] = (), absent: Sequence[str] = ()) -> ExpectCause:
    return ExpectCause(tuple(keywords), frozenset(checks), tuple(absent))


NO_PROBLEM = cause("No problem found")

HEALTHY: Mapping[str, Expect] = {
    "tcp-80": ok("connected", "eth0"),
    "tcp-32526": ok("connected", "eth0"),
    "wire-versions": ok("2012-11-30"),
    "dns-udp": ok("this VM"),
    "dns-tcp": ok("this VM"),
    "dns-reverse": ok("no reverse name"),
    "trace-80": ok(),
    "trace-32526": ok(),
    "egress-nic": ok("eth0"),
    "privileges": ok(),
    "proxy": ok(),
    "firewall": ok(),
    "endpoint": ok(),
    "guest-agent": AGENT_ABSENT,
    "agent-health": AGENT_ABSENT,
    "imds": ok(),
    "resolver": ok("platform resolver"),
    "conntrack": ok(),
}

TIMED_OUT = "timed out"
WIRE_NO_CONNECT = fail("could not connect")


def _vm_drop(*spec: str) -> Rule:
    return Rule(Where.VM, "filter", "OUTPUT", ("-d", f"{PLATFORM_ADDRESS}/32", *spec, "-j", "DROP"))


def _host_rule(*spec: str) -> Rule:
    return Rule(Where.HOST, "filter", "INPUT", ("-d", f"{PLATFORM_ADDRESS}/32", *spec))


# The Linux guest agent's own rules, as it installs them (tests/fixtures/iptables-security.txt).
AGENT_RULES = (
    Rule(
        Where.VM,
        "security",
        "OUTPUT",
        ("-d", f"{PLATFORM_ADDRESS}/32", "-p", "tcp", "-m", "tcp", "--dport", "53", "-j", "ACCEPT"),
    ),
    Rule(
        Where.VM,
        "security",
        "OUTPUT",
        (
            *("-d", f"{PLATFORM_ADDRESS}/32", "-p", "tcp"),
            *("-m", "owner", "--uid-owner", "0", "-j", "ACCEPT"),
        ),
    ),
    Rule(
        Where.VM,
        "security",
        "OUTPUT",
        (
            *("-d", f"{PLATFORM_ADDRESS}/32", "-p", "tcp"),
            *("-m", "conntrack", "--ctstate", "INVALID,NEW", "-j", "DROP"),
        ),
    ),
)


# The guest agent's configuration as its packages ship it: the firewall on.
WAAGENT_CONF_FIREWALL_ON = """\
# wirecheck lab: the guest agent's configuration, as shipped (only what the checks read)
Provisioning.Agent=auto
OS.EnableFirewall=y
OS.EnableRDMA=n
HttpProxy.Host=None
HttpProxy.Port=None
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    expect: Mapping[str, Expect]
    diagnosis: ExpectCause  # the cause the diagnosis must rank first
    rules: tuple[Rule, ...] = ()
    wire_mode: WireMode = WireMode.NORMAL
    ptr: str | None = None  # a PTR record for the platform address, served by the lab's DNS
    appliance: bool = False  # a routing appliance between eth0's gateway and the host
    platform_via_secondary: bool = False  # a preferred /32 to the target via eth1
    env: Mapping[str, str] = field(default_factory=dict)  # added to wirecheck's environment
    run_as_uid: int | None = None  # None: root
    # wirecheck as root inside a user namespace that `run_as_uid` enters (uid 0 to itself,
    # run_as_uid to the kernel and to the guest agent's uid-0 rule).
    user_namespace: bool = False
    etc_files: Mapping[str, str] = field(default_factory=dict)  # extra files in the VM's /etc
    lease_endpoint: str = PLATFORM_ADDRESS  # option 245 in eth0's DHCP lease
    lease_store: LeaseStore = LeaseStore.DHCLIENT
    platform_routes: bool = True  # DHCP's /32 routes to the platform addresses via eth0
    vm_mounts: tuple[VmMount, ...] = ()
    # eth0's second private IP configured before its primary one (a static address applied
    # before the DHCP lease): the kernel then takes it as eth0's first address.
    second_ip_first: bool = False
    custom_dns: CustomDns | None = None  # the VM resolves through a custom DNS server
    var_log_files: Mapping[str, str] = field(default_factory=dict)  # extra files in /var/log
    # A pod behind the VM: a bridge with a pod namespace on it; the VM forwards and
    # masquerades the pod's traffic, as a Kubernetes node does.
    pod: bool = False
    bulk: Bulk = field(default_factory=Bulk)  # generated state of a big node
    # Filter-table rules (`-A CHAIN ...`) loaded after the generated ones (new chains are
    # declared): a fault hidden deep in a big ruleset.
    bulk_filter_rules: tuple[str, ...] = ()
    # The deadline the test matrix runs it with (None: the matrix's own, short one): a big
    # node's verdict is promised within the default deadline.
    timeout_s: float | None = None

    def expected_exit_code(self, check_ids: Sequence[str] = CATALOGUE) -> int:
        """The exit code wirecheck should give when exactly `check_ids` run (worst case)."""
        return max(
            (max(s.exit_code for s in self.expect[c].statuses) for c in check_ids), default=0
        )

    def summary(self) -> str:
        """The expected verdicts in one line: what differs from the healthy lab."""
        changed = [
            f"{check} {expect.describe()}"
            for check, expect in self.expect.items()
            if expect != HEALTHY.get(check)
        ]
        if changed:
            return ", ".join(changed) + "; the rest as in healthy"
        unusual = [
            f"{check} {expect.describe_statuses()}" + (f" ({expect.why})" if expect.why else "")
            for check, expect in self.expect.items()
            if expect.statuses != {Status.OK}
        ]
        return "all ok" + (f" except {', '.join(unusual)}" if unusual else "")


def _scenario(
    name: str,
    description: str,
    changes: Mapping[str, Expect] | None = None,
    *,
    diagnosis: ExpectCause,
    **options: Any,
) -> Scenario:
    return Scenario(name, description, {**HEALTHY, **(changes or {})}, diagnosis, **options)


def _removal(rule: Rule, *spec: str) -> str:
    """The command that removes `rule`, with its spec as iptables-save spells it back
    (`-m tcp` added, addresses with their prefix length)."""
    return f"iptables -t {rule.table} -D {rule.chain} {' '.join(spec)}"


DROP_32526 = _vm_drop("-p", "tcp", "--dport", "32526")
DROP_32526_REMOVAL = _removal(
    DROP_32526,
    *("-d", f"{PLATFORM_ADDRESS}/32", "-p", "tcp", "-m", "tcp", "--dport", "32526", "-j", "DROP"),
)
# The expectations of a local DROP of TCP 32526 that the firewall check's counters catch.
DROPPED_32526_COUNTED: Mapping[str, Expect] = {
    "tcp-32526": fail(TIMED_OUT),
    "trace-32526": fail(),
    "firewall": fail("counted", "32526"),
}
DROPPED_32526_CAUSE = cause(
    "TCP 32526 times out",
    "counted",
    DROP_32526_REMOVAL,
    checks=("tcp-32526", "trace-32526", "firewall"),
)
DROP_UDP_53 = _vm_drop("-p", "udp", "--dport", "53")
REJECT_IMDS = Rule(Where.VM, "filter", "OUTPUT", ("-d", f"{IMDS_ADDRESS}/32", "-j", "REJECT"))
DROP_IMDS_UPSTREAM = Rule(Where.HOST, "filter", "INPUT", ("-d", f"{IMDS_ADDRESS}/32", "-j", "DROP"))
# A big node: enough generated state to show the cost is linear (the bench goes to 100k),
# small enough for the matrix (loading it takes a few seconds).
BIG_NODE = Bulk(rules=20_000, routes=20_000, lease_blocks=2_000)
# A foreign DROP of TCP 32526 deep in a big ruleset: a chain of its own, entered for the
# platform address only, after the generated rules.
GUARD_CHAIN = "WIRECHECK-LAB-GUARD"
GUARD_SPEC = ("-p", "tcp", "-m", "tcp", "--dport", "32526", "-j", "DROP")
GUARD_RULES = (
    f"-A OUTPUT -d {PLATFORM_ADDRESS}/32 -j {GUARD_CHAIN}",
    f"-A {GUARD_CHAIN} {' '.join(GUARD_SPEC)}",
)

SCENARIOS: tuple[Scenario, ...] = (
    _scenario("healthy", "Everything answers, as on a healthy Azure VM.", diagnosis=NO_PROBLEM),
    _scenario(
        "drop-32526-local",
        "The VM's own firewall drops TCP 32526 to the platform address.",
        DROPPED_32526_COUNTED,
        diagnosis=DROPPED_32526_CAUSE,
        rules=(DROP_32526,),
    ),
    _scenario(
        "foreign-drop-counted",
        "The guest agent's three firewall rules and a foreign rule that drops TCP 32526 "
        "(wirecheck as root): the foreign rule's counter names it.",
        DROPPED_32526_COUNTED,
        diagnosis=DROPPED_32526_CAUSE,
        rules=(*AGENT_RULES, DROP_32526),
    ),
    _scenario(
        "drop-32526-upstream",
        "The host drops TCP 32526 (an upstream blackhole); the VM has no rule.",
        {"tcp-32526": fail(TIMED_OUT), "trace-32526": fail()},
        diagnosis=cause(
            "TCP 32526 times out",
            "no local rule counted",
            checks=("tcp-32526", "trace-32526"),
        ),
        rules=(_host_rule("-p", "tcp", "--dport", "32526", "-j", "DROP"),),
    ),
    _scenario(
        "reject-80",
        "The host rejects TCP 80 with a TCP reset.",
        {"tcp-80": fail("refused"), "wire-versions": fail("could not connect", "refused")},
        diagnosis=cause("TCP 80 is refused", "REJECT", checks=("tcp-80", "wire-versions")),
        rules=(
            _host_rule("-p", "tcp", "--dport", "80", "-j", "REJECT", "--reject-with", "tcp-reset"),
        ),
    ),
    _scenario(
        "dns-udp-blocked",
        "The VM's firewall drops DNS over UDP to the platform address (TCP 53 still works).",
        {"dns-udp": fail("blocked locally"), "firewall": fail("counted", "53")},
        diagnosis=cause(
            "DNS over UDP is blocked locally",
            "counted",
            _removal(
                DROP_UDP_53,
                *("-d", f"{PLATFORM_ADDRESS}/32", "-p", "udp", "-m", "udp", "--dport", "53"),
                *("-j", "DROP"),
            ),
            checks=("dns-udp", "firewall"),
        ),
        rules=(DROP_UDP_53,),
    ),
    _scenario(
        "dns-tcp-blocked",
        "The host drops DNS over TCP (UDP 53 still works).",
        {"dns-tcp": fail(TIMED_OUT)},
        diagnosis=cause("DNS over TCP", "times out while UDP works", checks=("dns-tcp",)),
        rules=(_host_rule("-p", "tcp", "--dport", "53", "-j", "DROP"),),
    ),
    _scenario(
        "ptr-present",
        f"The resolver has a PTR record for {PLATFORM_ADDRESS} ({PTR_NAME}).",
        {"dns-reverse": warn("reverse name", PTR_NAME)},
        diagnosis=cause("reverse name", PTR_NAME, "remove the PTR record", checks=("dns-reverse",)),
        ptr=PTR_NAME,
    ),
    _scenario(
        "route-secondary",
        "A /32 route sends platform traffic out of eth1; the host ignores the secondary subnet.",
        {
            "tcp-80": fail(TIMED_OUT),
            "tcp-32526": fail(TIMED_OUT),
            "wire-versions": WIRE_NO_CONNECT,
            "dns-udp": fail(TIMED_OUT),
            "dns-tcp": fail(TIMED_OUT),
            "dns-reverse": fail("no resolver answered"),
            "trace-80": fail(),
            "trace-32526": fail(),
            "egress-nic": _expect(
                Status.WARN,
                Status.FAIL,
                keywords=("eth1",),
                why="leaving by the secondary NIC is the cause here; the check may rank it "
                "a warning or a failure, but must name eth1",
            ),
        },
        diagnosis=cause(
            "leaves by eth1",
            "not by the primary NIC eth0",
            f"ip route del {PLATFORM_ADDRESS}/32 via {SECONDARY_GATEWAY} dev eth1",
            checks=("egress-nic", *PROBES),  # every probe fails with it
        ),
        platform_via_secondary=True,
    ),
    _scenario(
        "appliance-hop",
        "A routing appliance sits between the VM and the host: the target is two hops away.",
        {"trace-80": warn("hop"), "trace-32526": warn("hop")},
        diagnosis=cause(
            "extra hop", f"hop 1 {PRIMARY_GATEWAY}", checks=("trace-80", "trace-32526")
        ),
        appliance=True,
    ),
    _scenario(
        "wire-500",
        "WireServer answers HTTP 500.",
        {"wire-versions": fail("HTTP 500")},
        diagnosis=cause("HTTP 500", "trace-80 ok", checks=("wire-versions",)),
        wire_mode=WireMode.HTTP_500,
    ),
    _scenario(
        "wire-malformed",
        "WireServer answers HTTP 200 with truncated XML.",
        {"wire-versions": fail("not well-formed")},
        diagnosis=cause("not well-formed", checks=("wire-versions",)),
        wire_mode=WireMode.MALFORMED,
    ),
    _scenario(
        "wire-garbage",
        "Something on port 80 answers with bytes that are not HTTP.",
        {"wire-versions": fail("not valid HTTP")},
        diagnosis=cause("does not speak valid HTTP", checks=("wire-versions",)),
        wire_mode=WireMode.GARBAGE,
    ),
    _scenario(
        "wire-slow",
        "WireServer trickles its answer a byte at a time, for longer than the deadline.",
        {"wire-versions": fail("deadline")},
        diagnosis=cause("WireServer is slow", "deadline", checks=("wire-versions",)),
        wire_mode=WireMode.SLOW,
    ),
    _scenario(
        "wire-huge",
        "WireServer answers with a body of several megabytes.",
        {"wire-versions": fail("larger than")},
        diagnosis=cause("larger than 64 KiB", checks=("wire-versions",)),
        wire_mode=WireMode.HUGE,
    ),
    _scenario(
        "proxy-env",
        f"http_proxy/HTTP_PROXY point at {MISSING_PROXY}, which does not exist; wirecheck "
        "bypasses it and passes, and the proxy check warns.",
        {"proxy": warn("proxy")},
        diagnosis=cause("proxy would catch", MISSING_PROXY, "no_proxy", checks=("proxy",)),
        env={
            "http_proxy": MISSING_PROXY,
            "HTTP_PROXY": MISSING_PROXY,
            "https_proxy": MISSING_PROXY,
        },
    ),
    _scenario(
        "lease-other-245",
        f"eth0's DHCP lease carries option 245 = {OTHER_ENDPOINT}: the guest agent would look "
        f"for WireServer there, while {PLATFORM_ADDRESS} answers.",
        {"endpoint": warn(OTHER_ENDPOINT)},
        diagnosis=cause(OTHER_ENDPOINT, PLATFORM_ADDRESS, "option 245", checks=("endpoint",)),
        lease_endpoint=OTHER_ENDPOINT,
    ),
    _scenario(
        "imds-rejected",
        f"The VM's firewall rejects all traffic to IMDS ({IMDS_ADDRESS}).",
        {"imds": warn("refused"), "firewall": fail("counted", IMDS_ADDRESS)},
        diagnosis=cause(
            "IMDS is refused",
            "counted",
            _removal(REJECT_IMDS, "-d", f"{IMDS_ADDRESS}/32", "-j", "REJECT"),
            checks=("imds", "firewall"),
        ),
        rules=(REJECT_IMDS,),
    ),
    _scenario(
        "agent-firewall-root",
        "The guest agent's three firewall rules, wirecheck run as root: all traffic passes.",
        {"firewall": ok("agent")},
        diagnosis=NO_PROBLEM,
        rules=AGENT_RULES,
    ),
    _scenario(
        "agent-firewall-nonroot",
        "The guest agent's three firewall rules and its /etc/waagent.conf "
        "(OS.EnableFirewall=y), wirecheck run as a non-root user (nobody): TCP 80/32526 time "
        "out, as expected, DNS passes.",
        {
            "tcp-80": fail(TIMED_OUT),
            "tcp-32526": fail(TIMED_OUT),
            "wire-versions": WIRE_NO_CONNECT,
            "trace-80": fail(),
            "trace-32526": fail(),
            # The user is named from the effective uid: setpriv leaves $USER as it was.
            "privileges": warn("not running as root (nobody)", "timeouts are expected"),
            # iptables cannot be read without CAP_NET_ADMIN: the rules are out of sight.
            "firewall": skip("permission denied"),
            # The lab gives the VM the agent's configuration, not a running agent.
            "guest-agent": warn("installed", "not running"),
            "agent-health": ok("surroundings are sound"),
        },
        diagnosis=cause(
            "because you are not root",
            "the guest agent's firewall drops TCP",
            "expected",
            "sudo wirecheck",
            checks=(
                "tcp-80",
                "tcp-32526",
                "wire-versions",
                "trace-80",
                "trace-32526",
                "privileges",
            ),
            # The agent's configuration says its firewall is on: no guessing.
            absent=("most likely",),
        ),
        rules=AGENT_RULES,
        run_as_uid=NOBODY_UID,
        etc_files={"waagent.conf": WAAGENT_CONF_FIREWALL_ON},
        # setpriv changes ids, not the environment: $USER and $LOGNAME still name root, as
        # after `setpriv`/`su` from a root shell, and privileges must name nobody anyway.
        env={"USER": "root", "LOGNAME": "root", "HOME": "/nonexistent"},
    ),
)

# A VM configured statically, as netplan writes it when DHCP is turned off.
STATIC_NETPLAN = f"""\
# wirecheck lab: eth0 configured statically (no DHCP: no option 245, no platform routes)
network:
  version: 2
  ethernets:
    eth0:
      match:
        macaddress: {VM_PRIMARY_MAC}
      set-name: eth0
      dhcp4: false
      addresses:
        - {VM_PRIMARY_IP}/{PREFIX_LEN}
      routes:
        - to: default
          via: {PRIMARY_GATEWAY}
      nameservers:
        addresses: [{PLATFORM_ADDRESS}]
"""
WAAGENT_CONF_EXTENSIONS_OFF = """\
# wirecheck lab: the guest agent's configuration with extensions turned off
Provisioning.Agent=auto
Extensions.Enabled=n
OS.EnableRDMA=n
"""
WAAGENT_CONF_DEFAULTS = """\
# wirecheck lab: the guest agent's configuration (its defaults: extensions and updates on)
Provisioning.Agent=auto
OS.EnableRDMA=n
"""
AGENT_CONF_ONLY = {
    # The lab gives the VM the agent's configuration, not a running agent.
    "guest-agent": warn("installed", "not running"),
}


def found_in(source: str) -> Expect:
    """The endpoint found in eth0's lease, in the scenario's own store."""
    return ok(f"option 245 on eth0 = {PLATFORM_ADDRESS} in {source}")


SCENARIOS += (
    _scenario(
        "lease-wicked",
        "SLES: wicked keeps eth0's lease (option 245 in its XML), no dhclient lease anywhere: "
        "the endpoint is found there.",
        {"endpoint": found_in("/var/lib/wicked/lease-eth0-dhcp-ipv4.xml")},
        diagnosis=NO_PROBLEM,
        lease_store=LeaseStore.WICKED,
    ),
    _scenario(
        "lease-nm-internal",
        "RHEL 9: NetworkManager's internal DHCP client keeps only eth0's address in its lease "
        "file and option 245 in /run/NetworkManager/devices/<ifindex>: the endpoint is found "
        "there.",
        {"endpoint": found_in("/run/NetworkManager/devices/")},
        diagnosis=NO_PROBLEM,
        lease_store=LeaseStore.NM_INTERNAL,
    ),
    _scenario(
        "lease-dhcpcd",
        "dhcpcd keeps eth0's lease as the raw DHCP message (option 245 after the magic "
        "cookie), no dhclient lease anywhere: the endpoint is found there.",
        {"endpoint": found_in("/var/lib/dhcpcd/eth0.lease")},
        diagnosis=NO_PROBLEM,
        lease_store=LeaseStore.DHCPCD,
    ),
    _scenario(
        "lease-cloud-init",
        "During provisioning: only cloud-init's ephemeral /run/dhclient.lease holds eth0's "
        "lease: the endpoint is found there.",
        {"endpoint": found_in("/run/dhclient.lease")},
        diagnosis=NO_PROBLEM,
        lease_store=LeaseStore.CLOUD_INIT,
    ),
    _scenario(
        "static-ip-config",
        "eth0 is configured statically (netplan, dhcp4: false): no DHCP lease, no /32 routes to "
        "the platform; traffic still flows by the default route, but the guest agent cannot "
        "find WireServer.",
        {"endpoint": warn("cannot find WireServer", "configured statically", "netplan")},
        diagnosis=cause(
            "eth0 has a static address",
            "netplan",
            "Protocol.EndpointDiscovery=static",
            checks=("endpoint",),
        ),
        lease_store=LeaseStore.NONE,
        platform_routes=False,
        etc_files={"netplan/50-cloud-init.yaml": STATIC_NETPLAN},
    ),
    _scenario(
        "agent-extensions-off",
        "The guest agent's configuration turns extensions off (Extensions.Enabled=n).",
        {**AGENT_CONF_ONLY, "agent-health": warn("Extensions.Enabled=n")},
        diagnosis=cause(
            "Guest agent health",
            "Extensions.Enabled=n",
            "Extensions.Enabled=y",
            checks=("agent-health",),
        ),
        etc_files={"waagent.conf": WAAGENT_CONF_EXTENSIONS_OFF},
    ),
    _scenario(
        "agent-openssl-missing",
        "The guest agent's OS.OpensslPath names an openssl that is not there: it cannot "
        "decrypt its certificates.",
        {**AGENT_CONF_ONLY, "agent-health": warn("openssl", "is not installed")},
        diagnosis=cause(
            "Guest agent health", "openssl", "Install openssl", checks=("agent-health",)
        ),
        etc_files={"waagent.conf": WAAGENT_CONF_DEFAULTS + f"OS.OpensslPath={MISSING_OPENSSL}\n"},
    ),
    _scenario(
        "agent-lib-noexec",
        "/var/lib/waagent is on a filesystem mounted noexec (a tmpfs in the VM's mount "
        "namespace): extensions cannot run.",
        {**AGENT_CONF_ONLY, "agent-health": warn("/var/lib/waagent", "noexec")},
        diagnosis=cause(
            "Guest agent health",
            "noexec",
            "mount -o remount,exec /var/lib/waagent",
            checks=("agent-health",),
        ),
        etc_files={"waagent.conf": WAAGENT_CONF_DEFAULTS},
        vm_mounts=(VmMount("/var/lib/waagent", "size=1m,noexec"),),
    ),
    _scenario(
        "agent-disk-full",
        "/var/lib/waagent is on a full filesystem (a small tmpfs, filled): the agent cannot "
        "write its state.",
        {**AGENT_CONF_ONLY, "agent-health": warn("/var/lib/waagent", "free", "100% used")},
        diagnosis=cause(
            "Guest agent health", "cannot write", "Free space", checks=("agent-health",)
        ),
        etc_files={"waagent.conf": WAAGENT_CONF_DEFAULTS},
        vm_mounts=(VmMount("/var/lib/waagent", "size=256k", fill=True),),
    ),
)

# The guest agent's rules as found on broken VMs, wirecheck run as root: the DROP ahead of
# the ACCEPTs (appended over a restored set, or copied with -I), or without the uid-0 ACCEPT.
AGENT_DNS_ACCEPT, AGENT_UID0_ACCEPT, AGENT_DROP = AGENT_RULES
AGENT_DROP_FIRST = (AGENT_DROP, AGENT_DNS_ACCEPT, AGENT_UID0_ACCEPT)
AGENT_WITHOUT_UID0 = (AGENT_DNS_ACCEPT, AGENT_DROP)
# What the agent's DROP catches from root when nothing lets root through first: TCP to the
# target, port 53 too when the DROP is ahead of the DNS ACCEPT.
_AGENT_DROPS_ROOT: Mapping[str, Expect] = {
    "tcp-80": fail(TIMED_OUT),
    "tcp-32526": fail(TIMED_OUT),
    "wire-versions": WIRE_NO_CONNECT,
    "trace-80": fail(),
    "trace-32526": fail(),
}
_AGENT_ROOT_ROWS = ("tcp-80", "tcp-32526", "wire-versions", "trace-80", "trace-32526", "firewall")

SCENARIOS += (
    _scenario(
        "agent-firewall-drop-first",
        "The guest agent's three rules with its DROP ahead of the ACCEPTs, wirecheck run as "
        "root: the DROP counts root's packets, the uid-0 ACCEPT none.",
        {
            **_AGENT_DROPS_ROOT,
            "dns-tcp": fail(TIMED_OUT),
            "firewall": fail("guest agent's own rule", "comes before the uid-0 ACCEPT"),
        },
        diagnosis=cause(
            "running as root, the guest agent's own firewall drops root's packets",
            "the DROP comes before the uid-0 ACCEPT",
            "systemctl restart walinuxagent",
            checks=(*_AGENT_ROOT_ROWS, "dns-tcp"),
            absent=("after leaving the VM", "not root"),
        ),
        rules=AGENT_DROP_FIRST,
    ),
    _scenario(
        "agent-firewall-no-uid0",
        "The guest agent's TCP 53 ACCEPT and DROP without its uid-0 ACCEPT, wirecheck run as "
        "root: root's TCP to 80 and 32526 is dropped, DNS passes.",
        {
            **_AGENT_DROPS_ROOT,
            "firewall": fail("guest agent's own rule", "uid-0 ACCEPT is missing"),
        },
        diagnosis=cause(
            "running as root, the guest agent's own firewall drops root's packets",
            "the uid-0 ACCEPT is missing",
            "Delete the agent's rules",
            checks=_AGENT_ROOT_ROWS,
            absent=("after leaving the VM",),
        ),
        rules=AGENT_WITHOUT_UID0,
    ),
)

# The platform answers only the primary NIC's primary private IP.
_ONLY_PRIMARY_IP = tuple(
    Rule(
        Where.HOST,
        "filter",
        "INPUT",
        ("-d", f"{a}/32", "!", "-s", f"{VM_PRIMARY_IP}/32", "-j", "DROP"),
    )
    for a in (PLATFORM_ADDRESS, IMDS_ADDRESS)
)

SCENARIOS += (
    _scenario(
        "source-second-ip",
        f"eth0's second private IP {VM_PRIMARY_SECOND_IP} was configured before its primary "
        f"{VM_PRIMARY_IP}, and the platform routes have no `src`: packets to the platform "
        "leave with the second IP, which the platform ignores.",
        {
            "tcp-80": fail(TIMED_OUT),
            "tcp-32526": fail(TIMED_OUT),
            "wire-versions": WIRE_NO_CONNECT,
            "dns-udp": fail(TIMED_OUT),
            "dns-tcp": fail(TIMED_OUT),
            "dns-reverse": fail("no resolver answered"),
            "trace-80": fail(),
            "trace-32526": fail(),
            "egress-nic": fail(f"source {VM_PRIMARY_SECOND_IP}", VM_PRIMARY_IP),
            "imds": warn("not reachable"),
        },
        diagnosis=cause(
            f"leave eth0 with source {VM_PRIMARY_SECOND_IP}",
            f"not the primary NIC's primary private IP {VM_PRIMARY_IP}",
            f"src {VM_PRIMARY_IP}",
            checks=("egress-nic", *PROBES, "imds"),
            absent=("after leaving the VM",),
        ),
        rules=_ONLY_PRIMARY_IP,
        second_ip_first=True,
    ),
)

SCENARIOS += (
    _scenario(
        "custom-dns-nxdomain",
        f"The VM resolves through a custom DNS server ({CUSTOM_DNS_IP}) that does not forward "
        f"to {PLATFORM_ADDRESS}: it answers NXDOMAIN for the VM's own Azure name.",
        {"resolver": warn(CUSTOM_DNS_IP, "NXDOMAIN", "does not resolve the names Azure provides")},
        diagnosis=cause(
            f"DNS server {CUSTOM_DNS_IP}",
            "NXDOMAIN",
            f"forward to {PLATFORM_ADDRESS}",
            checks=("resolver",),
        ),
        custom_dns=CustomDns.NXDOMAIN,
    ),
    _scenario(
        "custom-dns-forwards",
        f"The VM resolves through a custom DNS server ({CUSTOM_DNS_IP}) that forwards to "
        f"{PLATFORM_ADDRESS}: it answers as the platform does.",
        {"resolver": ok(CUSTOM_DNS_IP, "as the platform resolver does")},
        diagnosis=NO_PROBLEM,
        custom_dns=CustomDns.FORWARD,
    ),
)

SCENARIOS += (
    _scenario(
        "proxy-catches-imds",
        f"http_proxy points at {MISSING_PROXY} and no_proxy lists {PLATFORM_ADDRESS} but not "
        f"IMDS: SDKs and extensions that honour it would send IMDS requests to the proxy.",
        {"proxy": warn(f"http://{IMDS_ADDRESS}/", "IMDS")},
        diagnosis=cause(
            f"proxy would catch http://{IMDS_ADDRESS}/",
            MISSING_PROXY,
            f"no_proxy=$no_proxy,{PLATFORM_ADDRESS},{IMDS_ADDRESS}",
            checks=("proxy",),
            absent=(f"http://{PLATFORM_ADDRESS}/",),
        ),
        env={
            "http_proxy": MISSING_PROXY,
            "https_proxy": MISSING_PROXY,
            "no_proxy": f"localhost,127.0.0.1,{PLATFORM_ADDRESS}",
        },
    ),
)

# The GuestProxyAgent's files as it ships and runs them: its configuration, and a status
# whose secure channel state is WireServer Enforce (tests/fixtures/gpa-*.json).
GPA_CONFIG = """\
{
    "logFolder": "",
    "eventFolder": "/var/log/azure-proxy-agent/events",
    "latchKeyFolder": "/var/lib/azure-proxy-agent/keys",
    "monitorIntervalInSeconds": 60,
    "pollKeyStatusIntervalInSeconds": 15,
    "hostGAPluginSupport": 1,
    "ebpfProgramName": "ebpf_cgroup.o",
    "cgroupRoot": "/sys/fs/cgroup"
}
"""
GPA_STATUS = (
    '{"timestamp":"2026-10-02T09:20:00.123Z","proxyAgentStatus":{"version":"1.0.38",'
    '"status":"SUCCESS","keyLatchStatus":{"status":"RUNNING","message":"Found key details from '
    'local and ready to use.","states":{"secureChannelState":"WireServer Enforce -  IMDS Audit '
    '- HostGA Enforce"}},"ebpfProgramStatus":{"status":"RUNNING","message":"Started Redirector '
    'with eBPF maps"},"proxyListenerStatus":{"status":"RUNNING","message":"Started proxy '
    'listener 127.0.0.1:3080, ready to accept request"},"proxyConnectionsCount":412},'
    '"proxyConnectionSummary":[],"failedAuthenticateSummary":[]}\n'
)

SCENARIOS += (
    _scenario(
        "gpa-refuses",
        "The GuestProxyAgent runs in WireServer Enforce mode and refuses wirecheck's request "
        "(its 403: no body, `connection: close`, no x-ms-azure-host-authorization header). The "
        "lab's WireServer simulator answers like the agent's local listener; the agent's eBPF "
        "redirect of connects is not simulated.",
        {"wire-versions": fail("GuestProxyAgent", "403", "WireServer enforce")},
        diagnosis=cause(
            "HTTP 403 from the GuestProxyAgent on this VM",
            "never reached WireServer",
            "Audit mode",
            checks=("wire-versions",),
            absent=("WireServer answers",),
        ),
        wire_mode=WireMode.GPA_403,
        etc_files={"azure/proxy-agent.json": GPA_CONFIG},
        var_log_files={"azure-proxy-agent/status.json": GPA_STATUS},
    ),
)

# A hardening rule on a node: the pods' subnet may not reach the platform address.
POD_DROP = Rule(
    Where.VM, "filter", "FORWARD", ("-s", POD_SUBNET, "-d", f"{PLATFORM_ADDRESS}/32", "-j", "DROP")
)

SCENARIOS += (
    _scenario(
        "pod-forward-drop",
        f"A pod behind the VM (bridge {POD_BRIDGE}, the VM forwards and masquerades) and a "
        "FORWARD rule that drops the pods' traffic to the platform: the VM's own probes pass, "
        "the pod's packets are dropped.",
        {"firewall": warn("containers or pods", POD_BRIDGE, "FORWARD", "packet(s) so far")},
        diagnosis=cause(
            "Containers or pods behind this VM cannot reach",
            "filter/FORWARD",
            f"iptables -t filter -D FORWARD -s {POD_SUBNET} -d {PLATFORM_ADDRESS}/32 -j DROP",
            checks=("firewall",),
        ),
        rules=(POD_DROP,),
        pod=True,
    ),
)

SCENARIOS += (
    _scenario(
        "agent-firewall-userns-root",
        "The guest agent's three rules, complete and in order, and wirecheck run as root inside "
        "a user namespace entered as nobody (`unshare --user --map-root-user`, as in a rootless "
        "container): uid 0 to itself, 65534 to the kernel, so the agent's firewall drops it.",
        {
            "tcp-80": fail(TIMED_OUT),
            "tcp-32526": fail(TIMED_OUT),
            "wire-versions": WIRE_NO_CONNECT,
            "trace-80": fail(),
            "trace-32526": fail(),
            "privileges": warn("inside a user namespace", "uid 65534 outside"),
            "firewall": skip("permission denied"),
            "guest-agent": warn("installed", "not running"),
            "agent-health": ok("surroundings are sound"),  # the scenario gives waagent.conf
        },
        diagnosis=cause(
            "because you are not root",
            "the guest agent's firewall drops TCP",
            "outside the user namespace",
            checks=(
                "tcp-80",
                "tcp-32526",
                "wire-versions",
                "trace-80",
                "trace-32526",
                "privileges",
            ),
            absent=("most likely", "after leaving the VM"),
        ),
        rules=AGENT_RULES,
        run_as_uid=NOBODY_UID,
        user_namespace=True,
        etc_files={"waagent.conf": WAAGENT_CONF_FIREWALL_ON},
        env={"USER": "root", "LOGNAME": "root", "HOME": "/nonexistent"},
    ),
)

# Big nodes, after the others: each loads a big node's generated state.
SCENARIOS += (
    _scenario(
        "imds-dropped-upstream",
        f"The host drops all traffic to IMDS ({IMDS_ADDRESS}); everything else is healthy: "
        "the verdict must not wait for the whole deadline on one context row.",
        {"imds": warn("not reachable", "timed out")},
        diagnosis=cause("IMDS is not reachable", "timed out", checks=("imds",)),
        rules=(DROP_IMDS_UPSTREAM,),
    ),
    _scenario(
        "big-node",
        f"A big node, healthy: {BIG_NODE.describe()} (kube-proxy's shape); every row as in "
        "healthy, within the deadline.",
        diagnosis=NO_PROBLEM,
        bulk=BIG_NODE,
        timeout_s=5.0,
    ),
    _scenario(
        "big-node-drop-32526",
        f"A big node ({BIG_NODE.describe()}) whose firewall drops TCP 32526 to the platform "
        f"address in a chain of its own ({GUARD_CHAIN}), entered from OUTPUT after the "
        "generated rules: the counter still names the rule.",
        {
            "tcp-32526": fail(TIMED_OUT),
            "trace-32526": fail(),
            "firewall": fail("counted", "32526", GUARD_CHAIN),
        },
        diagnosis=cause(
            "TCP 32526 times out",
            "counted",
            f"iptables -t filter -D {GUARD_CHAIN} {' '.join(GUARD_SPEC)}",
            checks=("tcp-32526", "trace-32526", "firewall"),
        ),
        bulk=BIG_NODE,
        bulk_filter_rules=GUARD_RULES,
        timeout_s=5.0,
    ),
)

BY_NAME: Mapping[str, Scenario] = {s.name: s for s in SCENARIOS}


def scenario(name: str) -> Scenario:
    found = BY_NAME.get(name)
    if found is None:
        from wirecheck.errors import UsageError

        raise UsageError(
            f"unknown lab scenario {name!r}; known: {', '.join(BY_NAME)} "
            "(`wirecheck lab scenarios` describes them)"
        )
    return found


@dataclass(frozen=True)
class Mismatch:
    check_id: str
    problem: str

    def __str__(self) -> str:
        return f"{self.check_id}: {self.problem}"


def compare(scenario: Scenario, report: Mapping[str, Any]) -> list[Mismatch]:
    """Every way a JSON report (`wirecheck run -o json`) differs from the scenario's declaration.

    Checks the report does not contain are not asserted (they may not exist yet); a check
    it contains without a declaration is a mismatch, so new checks cannot slip in unasserted.
    The diagnosis's first cause is compared too.
    """
    found: list[Mismatch] = []
    checks = report.get("checks")
    if not isinstance(checks, list) or not checks:
        return [Mismatch("(report)", "the report lists no checks")]
    for check in checks:
        check_id = str(check.get("id"))
        expect = scenario.expect.get(check_id)
        if expect is None:
            found.append(
                Mismatch(
                    check_id,
                    f"no expectation declared for scenario {scenario.name!r}: "
                    "add it to wirecheck/lab/scenarios.py",
                )
            )
            continue
        if machine_agent_seen(check):
            expect = MACHINE_AGENT
        problems = expect.problems(str(check.get("status")), str(check.get("finding", "")))
        found.extend(Mismatch(check_id, p) for p in problems)
    first = first_cause(report)
    found.extend(Mismatch("(diagnosis)", p) for p in scenario.diagnosis.problems(first))
    return found


def first_cause(report: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The diagnosis's first cause, passing over ones about the machine's own guest agent.

    Those (a real agent's logged errors, say) are true of the machine, not of the lab VM.
    """
    machine_wide = {str(c.get("id")) for c in report.get("checks") or [] if machine_agent_seen(c)}
    for item in report.get("diagnosis") or []:
        if not isinstance(item, Mapping):
            continue
        named = {str(c) for c in item.get("checks") or []}
        if named and named <= machine_wide:
            continue
        return item
    return None
