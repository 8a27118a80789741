"""Shared test setup.

Tests may reach loopback only: pytest-socket (`--allow-hosts` in pyproject) makes any
other connect fail. Tests that need 168.63.129.16 build lab namespaces (marker `lab`).
"""

from __future__ import annotations

from pathlib import Path

# Copies of ../shared/fixtures (real Azure formats, made-up values), kept in the repo so
# the tests run from any checkout.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")
