"""Root inside a user namespace is not root to the kernel's owner matches."""

from __future__ import annotations

import pytest

from tests.context_fakes import FakeMachine
from wirecheck.platform.userns import UID_MAP, outside_uid_of_root, root_outside


@pytest.mark.parametrize(
    ("text", "outside"),
    [
        ("         0          0 4294967295\n", 0),  # the initial namespace
        ("         0      65534          1\n", 65534),  # unshare --map-root-user as nobody
        ("         0     100000      65536\n", 100000),  # a rootless container
        ("      1000       1000          1\n", None),  # uid 0 not mapped
        ("", None),
    ],
)
def test_outside_uid_of_root(text: str, outside: int | None) -> None:
    assert outside_uid_of_root(text) == outside


def test_root_outside_reads_the_uid_map() -> None:
    machine = FakeMachine(files={UID_MAP: "         0      65534          1\n"})
    root, note = root_outside(machine.system())
    assert not root
    assert note.startswith("uid 0 here is uid 65534 outside this user namespace")
    machine.files[UID_MAP] = "         0          0 4294967295\n"
    assert root_outside(machine.system()) == (True, "")
    assert root_outside(FakeMachine().system()) == (True, "")  # no /proc: not Linux
