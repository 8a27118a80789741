"""Generated machine state of a big node (a Kubernetes node, an appliance): thousands of
iptables rules, routes and DHCP lease blocks, as text the lab feeds to `iptables-restore`,
`ip -batch` and the VM's lease file. Pure: counts in, text out.

The state is shaped like the real thing, so the readers and the analysis meet what they
meet on such a machine: kube-proxy's nat chains (one jump per service from
KUBE-SERVICES, every endpoint chain jumping to the shared KUBE-MARK-MASQ), filter chains
entered from OUTPUT, routes in the main table and in policy-routing tables, and a dhclient
lease file that has grown one block per renewal. None of it touches the platform's
addresses or ports: a big node is still a healthy one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

# Services are 5 rules each (a KUBE-SERVICES jump, a KUBE-SVC jump, two KUBE-SEP rules,
# a filter rule); endpoints and services live in 10.96.0.0/12 and 10.244.0.0/16, which
# hold neither 168.63.129.16 nor 169.254.169.254.
RULES_PER_SERVICE = 5
# Generated routes go to 10.128.0.0/9 (host routes) and 10.64.0.0/10 (/26 networks): never
# the lab's 10.1.x or 10.2.x, never the platform; one in ten in a policy-routing table.
ROUTE_TABLES = 4
TABLE_BASE = 100
# Old lease blocks cover the past, one per renewal: dhclient appends, the newest is last.
RENEWAL = timedelta(hours=1)


@dataclass(frozen=True)
class Bulk:
    """How much generated state a scenario adds to the lab VM (0: none of that kind)."""

    rules: int = 0  # iptables rules (nat and filter), about this many
    routes: int = 0  # IPv4 routes (main table and policy-routing tables)
    lease_blocks: int = 0  # blocks in eth0's dhclient lease file, the real one last

    def __bool__(self) -> bool:
        return bool(self.rules or self.routes or self.lease_blocks)

    def describe(self) -> str:
        parts = [
            f"{count:,} {what}"
            for count, what in (
                (self.rules, "iptables rules"),
                (self.routes, "routes"),
                (self.lease_blocks, "lease blocks"),
            )
            if count
        ]
        return ", ".join(parts) or "nothing generated"


def _address(base: tuple[int, int], index: int) -> str:
    """The index-th host address in base.0.0/16 (skipping .0 and .255 of each /24)."""
    third, fourth = divmod(index, 254)
    return f"{base[0]}.{base[1] + third // 256}.{third % 256}.{fourth + 1}"


def iptables_restore_text(rules: int, extra_filter: tuple[str, ...] = ()) -> str:
    """`iptables-restore --noflush` input with about `rules` rules, kube-proxy's shape.

    `extra_filter`: rule specs (`-A CHAIN ...`) appended to the filter table after the
    generated ones, with their chains declared when new (a scenario's fault, hidden deep).
    """
    services = max(1, rules // RULES_PER_SERVICE)
    nat = ["*nat", ":KUBE-SERVICES - [0:0]", ":KUBE-MARK-MASQ - [0:0]", ":KUBE-POSTROUTING - [0:0]"]
    nat_rules = [
        "-A OUTPUT -m comment --comment kubernetes-service-portals -j KUBE-SERVICES",
        "-A POSTROUTING -m comment --comment kubernetes-postrouting -j KUBE-POSTROUTING",
        "-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000",
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MASQUERADE --random-fully",
    ]
    filter_ = ["*filter", ":KUBE-FIREWALL - [0:0]", ":KUBE-SERVICES-FILTER - [0:0]"]
    filter_rules = [
        "-A OUTPUT -j KUBE-FIREWALL",
        "-A OUTPUT -m conntrack --ctstate NEW -j KUBE-SERVICES-FILTER",
        "-A KUBE-FIREWALL -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate "
        "RELATED,ESTABLISHED,DNAT -j DROP",
    ]
    for index in range(services):
        service = _address((10, 96), index)
        endpoint = _address((10, 244), index)
        port = 8000 + index % 1000
        svc, sep = f"KUBE-SVC-{index:08X}", f"KUBE-SEP-{index:08X}"
        nat += [f":{svc} - [0:0]", f":{sep} - [0:0]"]
        nat_rules += [
            f'-A KUBE-SERVICES -d {service}/32 -p tcp -m comment --comment "ns/svc-{index}:http" '
            f"-m tcp --dport {port} -j {svc}",
            f"-A {svc} -m comment --comment ns/svc-{index}:http -j {sep}",
            f"-A {sep} -s {endpoint}/32 -m comment --comment ns/svc-{index}:http -j KUBE-MARK-MASQ",
            f"-A {sep} -p tcp -m comment --comment ns/svc-{index}:http -m tcp "
            f"-j DNAT --to-destination {endpoint}:{port}",
        ]
        filter_rules.append(
            f"-A KUBE-SERVICES-FILTER -d {service}/32 -p tcp -m tcp --dport {port + 1000} "
            "-j REJECT --reject-with icmp-port-unreachable"
        )
    nat_rules.append(
        "-A KUBE-SERVICES -m addrtype --dst-type LOCAL -m comment --comment "
        "kubernetes-nodeports -j RETURN"
    )
    declared = {line.split()[0][1:] for line in filter_ if line.startswith(":")}
    for spec in extra_filter:
        chain = spec.split()[1]
        if chain not in declared and chain not in ("INPUT", "OUTPUT", "FORWARD"):
            filter_.append(f":{chain} - [0:0]")
            declared.add(chain)
        filter_rules.append(spec)
    return "\n".join([*nat, *nat_rules, "COMMIT", *filter_, *filter_rules, "COMMIT", ""])


def ip_batch_text(routes: int, gateway: str, device: str) -> str:
    """`ip -batch` input adding `routes` routes via `gateway` on `device`."""
    lines = []
    for index in range(routes):
        if index % 8 == 7:  # a /26 network now and then (10.64.0.0/10), host routes else
            block = index // 8
            destination = f"10.{64 + block // 1024}.{block // 4 % 256}.{block % 4 * 64}/26"
        else:
            destination = f"10.{128 + index // 65536}.{index // 256 % 256}.{index % 256}/32"
        table = f" table {TABLE_BASE + index % ROUTE_TABLES}" if index % 10 == 9 else ""
        lines.append(f"route add {destination} via {gateway} dev {device} proto static{table}")
    return "\n".join(lines) + ("\n" if lines else "")


def lease_history(blocks: int, interface: str, address: str, now: datetime | None = None) -> str:
    """`blocks` expired dhclient lease blocks for `interface`, oldest first: what the lease
    file holds before its current lease after years of hourly renewals."""
    now = now or datetime.now(timezone.utc)
    out = []
    for index in range(blocks):
        renewed = now - RENEWAL * (blocks - index + 1)
        expired = renewed + RENEWAL / 2
        out.append(
            "lease {\n"
            f'  interface "{interface}";\n'
            f"  fixed-address {address};\n"
            "  option subnet-mask 255.255.255.0;\n"
            "  option dhcp-lease-time 1800;\n"
            f"  renew {_dhclient_time(renewed)};\n"
            f"  rebind {_dhclient_time(expired - RENEWAL / 8)};\n"
            f"  expire {_dhclient_time(expired)};\n"
            "}\n"
        )
    return "".join(out)


def _dhclient_time(when: datetime) -> str:
    """dhclient's `W YYYY/MM/DD HH:MM:SS` (weekday 0 = Sunday, UTC)."""
    return f"{(when.weekday() + 1) % 7} {when.strftime('%Y/%m/%d %H:%M:%S')}"
