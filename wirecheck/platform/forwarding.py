"""Does this VM forward packets for others (containers, pods, VMs behind it)? Read from
/proc and /sys through `System`: IPv4 forwarding, bridges, and interfaces that container
runtimes and CNI plugins create."""

from __future__ import annotations

from dataclasses import dataclass

from wirecheck.system import System

IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
SYS_CLASS_NET = "/sys/class/net"
# Interface name prefixes of container runtimes and CNI plugins (docker0, cni0, cbr0 of
# kubenet, azure0/azv* of Azure CNI, cali*, flannel.1, cilium_*, veth pairs of pods...).
CONTAINER_PREFIXES = (
    "azure",
    "azv",
    "cali",
    "cbr",
    "cilium",
    "cni",
    "docker",
    "flannel",
    "kube-bridge",
    "lxc",
    "podman",
    "veth",
    "weave",
)
MAX_SHOWN = 8


@dataclass(frozen=True)
class Forwarding:
    enabled: bool  # net.ipv4.ip_forward = 1
    bridges: tuple[str, ...] = ()
    container_interfaces: tuple[str, ...] = ()  # by name, bridges not repeated

    def describe(self) -> str:
        parts = [f"ip_forward={'1' if self.enabled else '0'}"]
        if self.bridges:
            parts.append(f"bridges {', '.join(self.bridges[:MAX_SHOWN])}")
        if self.container_interfaces:
            shown = ", ".join(self.container_interfaces[:MAX_SHOWN])
            more = len(self.container_interfaces) - MAX_SHOWN
            parts.append(f"container interfaces {shown}{f' (+{more})' if more > 0 else ''}")
        return "; ".join(parts)


def read_forwarding(system: System) -> Forwarding | None:
    """This VM's forwarding state; None where /proc says nothing (not Linux)."""
    try:
        enabled = system.read_text(IP_FORWARD).strip() == "1"
    except OSError:
        return None
    try:
        names = system.list_dir(SYS_CLASS_NET)
    except OSError:
        names = []
    bridges = tuple(n for n in names if _is_bridge(system, n))
    others = tuple(n for n in names if n not in bridges and n.startswith(CONTAINER_PREFIXES))
    return Forwarding(enabled, bridges, others)


def _is_bridge(system: System, name: str) -> bool:
    try:
        system.list_dir(f"{SYS_CLASS_NET}/{name}/bridge")
    except OSError:
        return False
    return True
