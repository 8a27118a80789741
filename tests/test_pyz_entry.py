"""packaging/pyz_main.py, the single file's entry: what it tells a VM whose Python is too old.

Its own functions, with the /etc/os-release of the distributions Azure images run; the
file itself is run by Python 2.7, 3.6, 3.7 and 3.8 in tests/test_pyz_pythons.py.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

ENTRY = Path(__file__).resolve().parent.parent / "packaging" / "pyz_main.py"
PROGRAM = "/usr/local/lib/wirecheck/wirecheck.pyz"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pyz_main", ENTRY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


entry = _load()

RHEL_8 = """\
NAME="Red Hat Enterprise Linux"
VERSION="8.10 (Ootpa)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="8.10"
PRETTY_NAME="Red Hat Enterprise Linux 8.10 (Ootpa)"
"""
ALMA_8 = """\
NAME="AlmaLinux"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="8.9"
PRETTY_NAME="AlmaLinux 8.9 (Midnight Oncilla)"
"""
SLES_15 = """\
NAME="SLES"
VERSION="15-SP5"
VERSION_ID="15.5"
PRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"
ID="sles"
ID_LIKE="suse"
"""
UBUNTU_20 = """\
NAME="Ubuntu"
VERSION="20.04.6 LTS (Focal Fossa)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 20.04.6 LTS"
VERSION_ID="20.04"
"""
UBUNTU_18 = UBUNTU_20.replace("20.04", "18.04")
DEBIAN_10 = """\
PRETTY_NAME="Debian GNU/Linux 10 (buster)"
NAME="Debian GNU/Linux"
VERSION_ID="10"
ID=debian
"""
CENTOS_7 = """\
NAME="CentOS Linux"
VERSION="7 (Core)"
ID="centos"
ID_LIKE="rhel fedora"
VERSION_ID="7"
PRETTY_NAME="CentOS Linux 7 (Core)"
"""
UNKNOWN = 'NAME="Something"\nID=something\nVERSION_ID="1"\n'
HEAD = "wirecheck needs Python 3.9 or newer; this is Python 3.6.8 on "


def advice(os_release: str, found: tuple[str, ...] = ()) -> str:
    line: str = entry.advice("3.6.8", entry.parse_os_release(os_release), list(found), PROGRAM)
    assert "\n" not in line
    return line


@pytest.mark.parametrize(
    ("os_release", "expected"),
    [
        (
            RHEL_8,
            "Red Hat Enterprise Linux 8.10 (Ootpa). Install it with `sudo dnf install python39`, "
            f"then run: python3.9 {PROGRAM}",
        ),
        (
            ALMA_8,  # a rebuild, known by ID_LIKE
            "AlmaLinux 8.9 (Midnight Oncilla). Install it with `sudo dnf install python39`, "
            f"then run: python3.9 {PROGRAM}",
        ),
        (
            SLES_15,
            "SUSE Linux Enterprise Server 15 SP5. Install it with "
            f"`sudo zypper install python311`, then run: python3.11 {PROGRAM}",
        ),
        (
            UBUNTU_20,
            "Ubuntu 20.04.6 LTS. Install it with `sudo apt install python3.9`, "
            f"then run: python3.9 {PROGRAM}",
        ),
    ],
    ids=["rhel-8", "alma-8", "sles-15", "ubuntu-20.04"],
)
def test_names_the_package_that_gives_python_3_9_or_newer(os_release: str, expected: str) -> None:
    assert advice(os_release) == HEAD + expected


@pytest.mark.parametrize(
    ("os_release", "instead"),
    [
        (UBUNTU_18, "Ubuntu 20.04 (apt install python3.9) or newer"),
        (DEBIAN_10, "Debian 11 (Python 3.9) or newer"),
        (CENTOS_7, "release 8 (dnf install python39) or newer"),
    ],
    ids=["ubuntu-18.04", "debian-10", "centos-7"],
)
def test_says_when_the_release_has_no_such_package(os_release: str, instead: str) -> None:
    line = advice(os_release)
    assert line.endswith(f", which has no package of Python 3.9 or newer: upgrade to {instead}.")


def test_an_unknown_distribution_gets_the_general_advice() -> None:
    assert advice(UNKNOWN) == (
        HEAD + "Something. Install Python 3.9 or newer from the distribution's packages "
        f"and run: python3.9 {PROGRAM}"
    )
    assert advice("").startswith(HEAD + "this system. ")


def test_a_newer_python_already_there_comes_first() -> None:
    line = advice(RHEL_8, ("/usr/bin/python3.12", "/usr/bin/python3.9"))
    assert line == (
        HEAD + "Red Hat Enterprise Linux 8.10 (Ootpa). Run it with the newer Python here: "
        f"/usr/bin/python3.12 {PROGRAM}"
    )


def test_finds_the_newer_pythons_in_the_bin_directories(tmp_path: Path) -> None:
    local, usr = tmp_path / "local", tmp_path / "usr"
    for directory, names in (
        (local, ["python3.10"]),
        (usr, ["python3", "python3.6", "python3.9", "python3.11", "python3.12", "python3.12-c"]),
    ):
        directory.mkdir()
        for name in names:
            (directory / name).write_text("")
            os.chmod(directory / name, 0o755)
    os.chmod(usr / "python3.11", 0o644)  # not executable: not a Python to run
    found = entry.newer_pythons((str(local), str(usr), str(tmp_path / "absent")))
    assert found == [str(usr / "python3.12"), str(local / "python3.10"), str(usr / "python3.9")]


def test_os_release_values_may_be_quoted_either_way() -> None:
    fields = entry.parse_os_release("# comment\nID='sles'\nID_LIKE=\"suse\"\nVERSION_ID=15.5\n\n")
    assert fields == {"ID": "sles", "ID_LIKE": "suse", "VERSION_ID": "15.5"}


def test_the_entry_is_ascii_for_python_2() -> None:
    # Python 2 reads a source file without a coding line as ASCII.
    ENTRY.read_bytes().decode("ascii")
