"""Shared test setup.

Tests may reach loopback only: pytest-socket (`--allow-hosts` in pyproject) makes any
other connect fail. Tests that need 168.63.129.16 build lab namespaces (marker `lab`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Copies of ../shared/fixtures (real Azure formats, made-up values), kept in the repo so
# the tests run from any checkout.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def pyz() -> Iterator[Path]:
    """`packaging/build_pyz.py` run once per session with this interpreter: the single file.

    pip fetches the pinned releases (the package index, or its cache): when it cannot, the
    tests that need the file are skipped with pip's reason.
    """
    build_dir = Path(tempfile.mkdtemp(prefix="wirecheck-pyz-test-"))
    os.chmod(build_dir, 0o755)  # the non-root tests read the file as nobody
    target = build_dir / "wirecheck.pyz"
    build = Path(__file__).resolve().parent.parent / "packaging" / "build_pyz.py"
    done = subprocess.run(
        [sys.executable, str(build), "--output", str(target)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 and "No matching distribution" in done.stderr:
        shutil.rmtree(build_dir, ignore_errors=True)
        pytest.skip(f"pip could not fetch the dependencies: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stdout + done.stderr
    yield target
    shutil.rmtree(build_dir, ignore_errors=True)


# pytest-socket guards only socket.connect(), and only while a test runs; wirecheck's own
# TCP connect uses connect_ex() and DNS over UDP uses sendto(), so those are guarded
# here too, for the whole session (daemon threads can outlive their test).
_SEND_METHODS = ("connect_ex", "sendto", "sendmsg")


class NonLoopbackTrafficBlocked(RuntimeError):
    """A test tried to send to an address outside --allow-hosts."""


def pytest_configure(config: pytest.Config) -> None:
    allowed = config.getoption("allow_hosts", default=None) or "127.0.0.1,::1"
    _guard_sends(frozenset(host.strip() for host in str(allowed).split(",")))


def _guard_sends(allowed: frozenset[str]) -> None:
    for name in _SEND_METHODS:
        true_method = getattr(socket.socket, name)
        if getattr(true_method, "_loopback_guard", False):
            continue
        setattr(socket.socket, name, _guarded(name, true_method, allowed))


def _guarded(name: str, true_method: Any, allowed: frozenset[str]) -> Any:
    def guarded(sock: socket.socket, *args: Any) -> Any:
        address = _destination(name, args)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address is not None:
            host = address[0] if isinstance(address, tuple) else address
            if host not in allowed:
                raise NonLoopbackTrafficBlocked(
                    f"a test called socket.{name}() to {host!r}; tests may reach only "
                    f"{', '.join(sorted(allowed))} (use tests/servers.py or a lab namespace)"
                )
        return true_method(sock, *args)

    guarded._loopback_guard = True  # type: ignore[attr-defined]
    return guarded


def _destination(name: str, args: tuple[Any, ...]) -> Any:
    """The address argument of connect_ex(addr), sendto(data[, flags], addr) or sendmsg."""
    if name == "connect_ex":
        return args[0] if args else None
    if name == "sendto":
        return args[-1] if len(args) >= 2 else None
    return args[3] if len(args) >= 4 else None  # sendmsg(buffers, ancdata, flags, address)
