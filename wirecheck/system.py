"""The I/O seam: everything a check reads from or does to the machine goes through `System`.

Each field has a real default; tests pass fakes instead of patching globals.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

SocketFactory = Callable[[int, int], socket.socket]

# Files we read are small configuration and log files; a cap keeps a hostile or huge
# file (a multi-GB log) from costing memory or time.
MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int | None  # None: did not run or did not finish
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # why it did not run or finish, in plain words
    duration_s: float = 0.0
    timed_out: bool = False  # killed at its timeout

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def why(self) -> str:
        """Why it did not succeed, in a few words: the error, else the last line it wrote
        on stderr, else its exit status."""
        if self.error:
            return self.error
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1][:200] if lines else f"exit status {self.returncode}"


def why_not(done: object, late: str = "did not finish in time") -> str:
    """`CommandResult.why` for a command run through `gather`, which gives None (or nothing
    that is a result) when the command did not finish by the gather's deadline."""
    return done.why if isinstance(done, CommandResult) else late


# Read in pieces: /proc/sys files allocate a kernel buffer as large as the read asked
# for, and refuse a multi-megabyte read with ENOMEM.
READ_CHUNK = 64 * 1024


def read_text(path: str, limit: int = MAX_FILE_BYTES) -> str:
    """Read at most `limit` bytes of a text file; undecodable bytes are replaced, not fatal."""
    data = bytearray()
    with open_regular(path) as handle:
        while len(data) < limit:
            chunk = handle.read(min(READ_CHUNK, limit - len(data)))
            if not chunk:
                break
            data += chunk
    return bytes(data).decode("utf-8", errors="replace")


def open_regular(path: str) -> BinaryIO:
    """`path` opened for reading if it is a regular file; OSError otherwise.

    A FIFO or a device where a config file should be would block a plain open() or read()
    forever: opened non-blocking, it is looked at and refused before anything is read.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_lines(path: str) -> Iterator[str]:
    """A text file's lines one at a time, however big (undecodable bytes are replaced):
    for the files whose size is the machine's state (/proc/net/route), where a cap would
    silently drop facts. The caller bounds the time it spends; the file is opened at once,
    so a missing file raises OSError here, not at the first line."""
    handle = open_regular(path)

    def lines() -> Iterator[str]:
        with handle:
            for raw in handle:
                yield raw.decode("utf-8", errors="replace")

    return lines()


def read_tail(path: str, limit: int = MAX_FILE_BYTES) -> str:
    """The last `limit` bytes of a text file (a log's recent end), from its first whole
    line; undecodable bytes are replaced."""
    with open_regular(path) as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - limit))
        data = handle.read(limit)
    if size > limit:
        data = data.partition(b"\n")[2]  # the first line was cut: drop it
    return data.decode("utf-8", errors="replace")


def list_dir(path: str) -> list[str]:
    """The entry names in a directory, sorted; raises OSError when it cannot be listed."""
    return sorted(os.listdir(path))


def run_command(argv: Sequence[str], timeout_s: float) -> CommandResult:
    """Run a command without a shell, bounded in time; never raises."""
    started = time.monotonic()
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            timeout=max(timeout_s, 0.01),
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return CommandResult(tuple(argv), None, error=f"{argv[0]} is not installed")
    except subprocess.TimeoutExpired:
        return CommandResult(
            tuple(argv),
            None,
            error=f"{argv[0]} did not finish within {timeout_s:.1f} s",
            timed_out=True,
        )
    except OSError as exc:
        return CommandResult(tuple(argv), None, error=f"{argv[0]} could not run: {exc}")
    return CommandResult(
        tuple(argv),
        done.returncode,
        done.stdout.decode("utf-8", errors="replace"),
        done.stderr.decode("utf-8", errors="replace"),
        duration_s=time.monotonic() - started,
    )


@dataclass(frozen=True)
class FsUsage:
    """Space and inodes of a filesystem, as statvfs gives them."""

    block_size: int
    blocks: int
    blocks_free: int  # for root
    blocks_available: int  # for everyone else
    files: int  # inodes; 0 where the filesystem has no fixed count
    files_available: int


def fs_usage(path: str) -> FsUsage:
    """The filesystem holding `path`; OSError where it cannot be asked (Windows)."""
    statvfs = getattr(os, "statvfs", None)
    if statvfs is None:
        raise OSError(errno.ENOSYS, "statvfs is not available here", path)
    got = statvfs(path)
    return FsUsage(got.f_frsize, got.f_blocks, got.f_bfree, got.f_bavail, got.f_files, got.f_favail)


def is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None:
        return bool(geteuid() == 0)
    import ctypes  # Windows: Administrator is the equivalent of root here

    windll = getattr(ctypes, "windll", None)
    return bool(windll and windll.shell32.IsUserAnAdmin())


def interface_addresses() -> dict[str, tuple[str, ...]]:
    """IPv4 addresses per interface name.

    Linux asks the kernel directly (one ioctl, standard library only): loading psutil's C
    extension for this would cost every run more than the question does.
    """
    if sys.platform.startswith("linux"):
        from wirecheck.platform.ifaddrs import ipv4_by_interface

        return ipv4_by_interface()
    try:
        import psutil  # imported here: only checks that need NIC facts pay for it
    except ImportError:  # the single-file build carries no C extension
        return {}
    return {
        name: tuple(a.address for a in addrs if a.family == socket.AF_INET)
        for name, addrs in psutil.net_if_addrs().items()
    }


def nft_tables() -> list[tuple[str, str, int]]:
    """The nftables tables here, (family, name, chains), from the kernel; OSError when it
    cannot be asked (see platform/firewall/nft_tables.py)."""
    from wirecheck.platform.firewall.nft_tables import nft_tables as ask_kernel

    return [(table.family, table.name, table.chains) for table in ask_kernel()]


# glibc's h_errno values that mean "asked, and there is no such record".
_HOST_NOT_FOUND, _NO_DATA = 1, 4


def reverse_lookup(address: str) -> str | None:
    """The name the system resolver (hosts file, then DNS) gives `address`, or None.

    Raises OSError when the resolver could not be asked (timeout, server failure).
    """
    try:
        return socket.gethostbyaddr(address)[0]
    except socket.herror as exc:
        if exc.errno in (_HOST_NOT_FOUND, _NO_DATA):
            return None
        raise


@dataclass(frozen=True)
class System:
    read_text: Callable[[str], str] = read_text
    run_command: Callable[[Sequence[str], float], CommandResult] = run_command
    hostname: Callable[[], str] = socket.gethostname
    is_root: Callable[[], bool] = is_root
    interface_addresses: Callable[[], dict[str, tuple[str, ...]]] = interface_addresses
    socket_factory: SocketFactory = socket.socket
    reverse_lookup: Callable[[str], str | None] = reverse_lookup
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    list_dir: Callable[[str], list[str]] = list_dir
    platform: str = sys.platform  # the operating system, as sys.platform names it
    # A regular file opened for reading in binary, for readers that seek (a lease file read
    # from its end) or must see how big a file is rather than take a capped prefix.
    open_file: Callable[[str], BinaryIO] = open_regular
    fs_usage: Callable[[str], FsUsage] = fs_usage
    read_lines: Callable[[str], Iterator[str]] = read_lines
    read_tail: Callable[[str, int], str] = read_tail
    nft_tables: Callable[[], list[tuple[str, str, int]]] = nft_tables

    @property
    def windows(self) -> bool:
        return self.platform == "win32"

    @property
    def linux(self) -> bool:
        return self.platform.startswith("linux")

    def interface_of(self, address: str) -> str | None:
        """The interface that holds a local IPv4 address, if any."""
        for name, addresses in self.interface_addresses().items():
            if address in addresses:
                return name
        return None
