"""The nftables tables of this network namespace, asked of the kernel over netlink.

Why not `nft list tables`: nft fills its cache with the whole ruleset first, whatever it
is asked. Where iptables-nft keeps a Kubernetes node's 50k rules in nft tables, that costs
seconds and hundreds of MiB, only to learn the names of the few native nft tables (the
guest agent's `walinuxagent`, firewalld's) that iptables does not show. The kernel lists
just the tables (NFT_MSG_GETTABLE, a dump) in a millisecond; each native table is then
listed on its own (`nft -j list table FAMILY NAME`).

Needs CAP_NET_ADMIN, as nft does (OSError EPERM otherwise).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_NEWTABLE, NFT_MSG_GETTABLE = 0, 1
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
NFTA_TABLE_NAME, NFTA_TABLE_USE = 1, 3  # its name; how many chains it holds
# NFPROTO_* as nft names the families.
FAMILIES = {1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
_HEADER = struct.Struct("=IHHII")  # struct nlmsghdr: len, type, flags, seq, pid
_NFGEN = struct.Struct("=BBH")  # struct nfgenmsg: family, version, res_id (big-endian)
_ATTR = struct.Struct("=HH")  # struct nlattr: len, type
MAX_REPLY = 1 << 20
TIMEOUT_S = 1.0


class NftTable(NamedTuple):
    family: str  # ip, ip6, inet, arp, bridge, netdev
    name: str
    chains: int = 0  # how many chains it holds (iptables-nft: one per iptables chain)


def request(seq: int = 1) -> bytes:
    """A dump request for every table of every family."""
    kind = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE
    body = _NFGEN.pack(socket.AF_UNSPEC, 0, 0)
    return _HEADER.pack(_HEADER.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def parse_messages(data: bytes) -> tuple[list[NftTable], bool]:
    """Each table in a chunk of the dump's replies, and whether the chunk ended the dump.
    Raises OSError for a netlink error reply (EPERM: not root)."""
    tables: list[NftTable] = []
    done = False
    for kind, payload in _messages(data):
        if kind == NLMSG_DONE:
            done = True
        elif kind == NLMSG_ERROR:
            code = -struct.unpack_from("=i", payload)[0] if len(payload) >= 4 else 0
            if code:
                raise OSError(code, os.strerror(code))
            done = True
        elif kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE and len(payload) >= 4:
            family = FAMILIES.get(payload[0], str(payload[0]))
            attributes = payload[_NFGEN.size :]
            name = _attribute(attributes, NFTA_TABLE_NAME)
            use = _attribute(attributes, NFTA_TABLE_USE)
            chains = struct.unpack("!I", use[:4])[0] if use is not None and len(use) >= 4 else 0
            if name is not None:
                text = name.split(b"\0", 1)[0].decode("utf-8", "replace")
                tables.append(NftTable(family, text, chains))
    return tables, done


def _messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            return  # a truncated message: nothing more can be read from this chunk
        yield kind, data[offset + _HEADER.size : offset + length]
        offset += (length + 3) & ~3


def _attribute(data: bytes, wanted: int) -> bytes | None:
    offset = 0
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            return None
        if kind & 0x3FFF == wanted:
            return data[offset + _ATTR.size : offset + length]
        offset += (length + 3) & ~3
    return None


def nft_tables(timeout_s: float = TIMEOUT_S) -> list[NftTable]:
    """Every nftables table here; OSError when the kernel cannot be asked (not Linux, no
    nf_tables, no CAP_NET_ADMIN)."""
    family = getattr(socket, "AF_NETLINK", None)
    if family is None:
        raise OSError("no netlink on this platform")
    with socket.socket(family, socket.SOCK_RAW, NETLINK_NETFILTER) as sock:
        sock.settimeout(timeout_s)
        sock.bind((0, 0))
        sock.send(request())
        tables: list[NftTable] = []
        done = False
        while not done:
            found, done = parse_messages(sock.recv(MAX_REPLY))
            tables += found
    return tables
