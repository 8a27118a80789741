"""A throwaway network namespace with firewall rules, for recording and checking real
`iptables-save -c`, `iptables -L -nxv` and `nft -j list ruleset` output.

The namespace has one veth pair whose both ends stay inside it, a default route into it,
and nothing else: packets to 168.63.129.16 traverse the OUTPUT hooks (so counters rise)
and then go nowhere. It is always deleted, also when the body raises.

Record the parser fixtures (root): `python -m tests.firewall_lab tests/fixtures`
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

PLATFORM = "168.63.129.16"

# The Linux guest agent's three rules, as it installs them with iptables.
AGENT_IPTABLES = (
    f"-t security -A OUTPUT -d {PLATFORM}/32 -p tcp -m tcp --dport 53 -j ACCEPT",
    f"-t security -A OUTPUT -d {PLATFORM}/32 -p tcp -m owner --uid-owner 0 -j ACCEPT",
    f"-t security -A OUTPUT -d {PLATFORM}/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP",
)
# Foreign rules an admin or a tool might have added.
FOREIGN_IPTABLES = (
    f"-A OUTPUT -d {PLATFORM}/32 -p tcp -m tcp --dport 32526 -j DROP",
    f"-A OUTPUT -d {PLATFORM}/32 -p udp -m udp --dport 53 -j REJECT",
    "-A OUTPUT -o lo -j ACCEPT",
    "-N WIRE",
    '-A WIRE -p tcp -m tcp --dport 80 -m comment --comment "block wire" -j DROP',
    "-A OUTPUT -d 168.63.0.0/16 -j WIRE",
)
NFT_RULESET = f"""\
table ip walinuxagent {{
  chain output {{
    type filter hook output priority 0; policy accept;
    ip daddr {PLATFORM} tcp dport != 53 skuid != 0 ct state invalid,new counter drop
  }}
}}
table inet custom {{
  set blocked {{ type ipv4_addr; elements = {{ 10.9.9.9 }} }}
  chain out {{
    type filter hook output priority 10; policy accept;
    ip daddr {PLATFORM} tcp dport 32526 counter drop
    ip daddr {PLATFORM} udp dport 53 counter reject
    ip daddr {{ {PLATFORM}, 10.0.0.1 }} tcp dport {{ 80, 443 }} counter jump wire
    ip daddr @blocked drop
    oifname "lo" accept
  }}
  chain wire {{
    meta l4proto tcp th dport 80-81 counter return
  }}
}}
"""
# Root sends TCP to 80, 32526 and 53 and UDP to 53; "nobody" sends TCP to 80 (the agent's
# DROP counts it). Each connect gives up after 0.2 s: the peer end never answers.
ROOT_TRAFFIC = f"""
import socket
for port in (80, 32526, 53):
    s = socket.socket(); s.settimeout(0.2)
    try: s.connect(("{PLATFORM}", port))
    except OSError: pass
    s.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try: u.sendto(b"x", ("{PLATFORM}", 53))
except OSError: pass
"""
NOBODY_TRAFFIC = ["timeout", "0.5", "bash", "-c", f"exec 3<>/dev/tcp/{PLATFORM}/80"]


def run(argv: Sequence[str], stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=20, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def namespace(tag: str) -> Iterator[list[str]]:
    """A namespace named `wcfw-<tag>-<pid>`; yields the `ip netns exec NAME` prefix."""
    name = f"wcfw-{tag}-{os.getpid()}"
    run(["ip", "netns", "add", name])
    try:
        exec_in = ["ip", "netns", "exec", name]
        run([*exec_in, "ip", "link", "set", "lo", "up"])
        run([*exec_in, "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        run([*exec_in, "ip", "link", "set", "v0", "up"])
        run([*exec_in, "ip", "link", "set", "v1", "up"])
        run([*exec_in, "ip", "addr", "add", "10.1.0.4/24", "dev", "v0"])
        run([*exec_in, "ip", "route", "add", "default", "via", "10.1.0.1", "dev", "v0"])
        yield exec_in
    finally:
        run(["ip", "netns", "del", name], check=False)


def install_iptables(exec_in: list[str]) -> None:
    for rule in (*AGENT_IPTABLES, *FOREIGN_IPTABLES):
        run([*exec_in, "iptables", "-w", *split(rule)])


def install_nft(exec_in: list[str]) -> None:
    run([*exec_in, "nft", "-f", "-"], stdin=NFT_RULESET)


def send_traffic(exec_in: list[str]) -> None:
    run([*exec_in, sys.executable, "-c", ROOT_TRAFFIC])
    nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    run([*exec_in, *nobody, *NOBODY_TRAFFIC], check=False)


def split(rule: str) -> list[str]:
    import shlex

    return shlex.split(rule)


def capture_iptables() -> dict[str, str]:
    with namespace("ipt") as exec_in:
        install_iptables(exec_in)
        send_traffic(exec_in)
        return {
            "lab-iptables-save-c.txt": run([*exec_in, "iptables-save", "-c"]),
            "lab-iptables-L-filter.txt": run([*exec_in, "iptables", "-w", "-L", "-nxv"]),
            "lab-iptables-L-security.txt": run(
                [*exec_in, "iptables", "-w", "-t", "security", "-L", "-nxv", "--line-numbers"]
            ),
            "lab-nft-of-iptables.json": run([*exec_in, "nft", "-j", "list", "ruleset"]),
        }


def capture_nft() -> dict[str, str]:
    with namespace("nft") as exec_in:
        install_nft(exec_in)
        send_traffic(exec_in)
        return {
            "lab-nft-native.json": run([*exec_in, "nft", "-j", "list", "ruleset"]),
            "lab-nft-native.txt": run([*exec_in, "nft", "list", "ruleset"]),
        }


def main(directory: str) -> None:
    out = Path(directory)
    for name, text in {**capture_iptables(), **capture_nft()}.items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name} ({len(text)} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures")
