"""Read `traceroute -T` output back into hops: the inverse of `render_traceroute`, for
tests that compare wirecheck's traces with the real traceroute's."""

from __future__ import annotations

from wirecheck.addresses import is_ipv4
from wirecheck.errors import ParseError
from wirecheck.net.traceroute.hops import Hop, HopKind, ProbeCell


def parse_traceroute(text: str) -> tuple[str, int, list[Hop]]:
    """Read `traceroute -T [-n]` output back into (target, max_hops, hops).

    The inverse of `render_traceroute` for everything traceroute 2.x prints by default.
    Raises ParseError on anything else.
    """
    try:
        return _parse_traceroute(text)
    except (ValueError, IndexError) as exc:
        raise ParseError(f"not `traceroute -T` output ({exc}): {text[:80]!r}") from exc


def _parse_traceroute(text: str) -> tuple[str, int, list[Hop]]:
    lines = text.rstrip("\n").splitlines()
    header = lines[0].split()
    target = header[3].strip("(),")
    max_hops = int(header[4])
    hops: list[Hop] = []
    for line in lines[1:]:
        words = line.split()
        ttl = int(words[0])
        cells: list[ProbeCell] = []
        address: str | None = None
        index = 1
        while index < len(words):
            word = words[index]
            if word == "*":
                cells.append(ProbeCell())
                index += 1
                continue
            if index + 1 < len(words) and words[index + 1].startswith("("):
                address, index = words[index + 1].strip("()"), index + 2  # name (address)
                continue
            if is_ipv4(word):
                address, index = word, index + 1
                continue
            rtt = float(word)  # "0.123 ms"
            index += 2
            flag = ""
            if index < len(words) and words[index].startswith("!"):
                flag, index = words[index], index + 1
            cells.append(ProbeCell(address, rtt, flag))
        kind: HopKind = "none"
        if any(c.address == target for c in cells):
            kind = "target"
        elif any(c.address for c in cells):
            kind = "router"
        final = kind == "target" or any(c.flag for c in cells)
        hops.append(Hop(ttl, tuple(cells), kind, final))
    return target, max_hops, hops
