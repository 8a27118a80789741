"""A made-up machine for the context checks: files, directories, commands and the user.

Everything a check reads comes from here; a file, directory or command that the test did
not declare is missing (FileNotFoundError, "not installed"), so no test reads the real
machine or runs a real command.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Union

from wirecheck.checks.base import CheckContext, ResultBoard
from wirecheck.checks.catalogue import load_all
from wirecheck.model import CheckResult, Deadline, RunConfig, Status
from wirecheck.system import CommandResult, FsUsage, System

Answer = Union[CommandResult, Callable[[Sequence[str]], CommandResult]]


def ok(stdout: str = "") -> CommandResult:
    return CommandResult((), 0, stdout)


def failed(stderr: str, code: int = 1) -> CommandResult:
    return CommandResult((), code, "", stderr)


@dataclass
class FakeMachine:
    files: dict[str, str] = field(default_factory=dict)
    binary: dict[str, bytes] = field(default_factory=dict)  # files that are not text
    filesystems: dict[str, FsUsage] = field(default_factory=dict)  # statvfs by path
    dirs: dict[str, list[str]] = field(default_factory=dict)
    commands: dict[tuple[str, ...], Answer] = field(default_factory=dict)
    # Commands whose argv starts with a key (their later arguments vary: a temporary path).
    commands_by_prefix: dict[tuple[str, ...], Answer] = field(default_factory=dict)
    root: bool = True
    environ: dict[str, str] = field(default_factory=dict)
    ran: list[tuple[str, ...]] = field(default_factory=list)
    socket_factory: Callable[[int, int], Any] = socket.socket
    # The kernel's nftables tables (family, name[, chains]); None: it cannot be asked (as
    # without root), so the firewall reader lists the ruleset with nft.
    nft_tables: list[tuple[str, ...]] | None = None

    def read_text(self, path: str) -> str:
        if path in self.files:
            return self.files[path]
        raise FileNotFoundError(2, "No such file or directory", path)

    def open_file(self, path: str) -> BinaryIO:
        if path in self.binary:
            return io.BytesIO(self.binary[path])
        if path in self.files:
            return io.BytesIO(self.files[path].encode("utf-8"))
        raise FileNotFoundError(2, "No such file or directory", path)

    def fs_usage(self, path: str) -> FsUsage:
        if path in self.filesystems:
            return self.filesystems[path]
        raise FileNotFoundError(2, "No such file or directory", path)

    def list_nft_tables(self) -> list[tuple[str, str, int]]:
        if self.nft_tables is None:
            raise PermissionError(1, "Operation not permitted (fake)")
        return [(t[0], t[1], int(t[2]) if len(t) > 2 else 0) for t in self.nft_tables]

    def read_lines(self, path: str) -> Iterator[str]:
        return iter(self.read_text(path).splitlines(keepends=True))

    def read_tail(self, path: str, limit: int) -> str:
        return self.read_text(path)[-limit:]

    def list_dir(self, path: str) -> list[str]:
        if path in self.dirs:
            return sorted(self.dirs[path])
        raise FileNotFoundError(2, "No such file or directory", path)

    def run_command(self, argv: Sequence[str], timeout_s: float) -> CommandResult:
        key = tuple(argv)
        self.ran.append(key)
        answer = self.commands.get(key) or next(
            (a for prefix, a in self.commands_by_prefix.items() if key[: len(prefix)] == prefix),
            None,
        )
        if answer is None:
            return CommandResult(key, None, error=f"{argv[0]} is not installed")
        return answer(argv) if callable(answer) else answer

    def system(self, platform: str = "linux") -> System:
        return System(
            read_text=self.read_text,
            run_command=self.run_command,
            hostname=lambda: "vm1",
            is_root=lambda: self.root,
            interface_addresses=lambda: {"eth0": ("10.1.0.4",)},
            socket_factory=self.socket_factory,
            reverse_lookup=lambda _address: None,
            environ=dict(self.environ),
            list_dir=self.list_dir,
            platform=platform,
            open_file=self.open_file,
            fs_usage=self.fs_usage,
            read_lines=self.read_lines,
            read_tail=self.read_tail,
            nft_tables=self.list_nft_tables,
        )


def context(
    machine: FakeMachine,
    config: RunConfig | None = None,
    *,
    timeout_s: float = 2.0,
    results: Sequence[CheckResult] = (),
    planned: Sequence[str] = (),
    prepared: Mapping[str, object] | None = None,
    platform: str = "linux",
) -> CheckContext:
    """A check context on `machine`; `results` are already on the board (and planned)."""
    board = ResultBoard()
    for result in results:
        board.post(result)
    return CheckContext(
        config=config or RunConfig(),
        deadline=Deadline(timeout_s),
        system=machine.system(platform),
        board=board,
        specs={spec.id: spec for spec in load_all([*planned, *(r.check_id for r in results)])},
        prepared=dict(prepared or {}),
    )


def result(check_id: str, status: Status, finding: str = "", **evidence: Any) -> CheckResult:
    return CheckResult(check_id, check_id, status, finding or status.value, evidence)
