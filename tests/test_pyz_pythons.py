"""The single file on every Python a VM may have: it works on 3.9 to 3.13 and says, on 2.7 and
3.6 to 3.8, in one line, which Python to install.

The file is the session's (tests/conftest.py: built once). The supported interpreters run it
with `-I -S`: no site-packages, so no psutil and no installed wirecheck; every import comes
from the file. Marker `every_python`: scripts/test runs these in its default run only, since
they start every interpreter themselves. tests/lab/test_lab_pyz.py runs the file in the lab.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest

from tests.pythons import SUPPORTED, TOO_OLD, require_pythons
from wirecheck import __version__

pytestmark = pytest.mark.every_python

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = (("--version",), ("list",), ("explain", "tcp-80"))
# Each run is an interpreter start and the file's imports: 2 cores, a few at once.
WORKERS = 4


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tempfile.gettempdir(),  # away from the checkout
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
    )


def _run_all(argvs: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(_run, argvs))


def test_version_list_and_explain_on_every_supported_python(pyz: Path) -> None:
    pythons = require_pythons(SUPPORTED)
    # What the checkout itself prints: the file must carry the same code.
    expected = {
        command: subprocess.run(
            [sys.executable, "-m", "wirecheck", *command],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=ROOT,
        ).stdout
        for command in COMMANDS
    }
    assert expected[("--version",)] == f"wirecheck {__version__}\n"
    runs = [(v, c) for v in pythons for c in COMMANDS]
    done = _run_all([[pythons[v], "-I", "-S", str(pyz), *c] for v, c in runs])
    wrong = [
        f"Python {version} `{' '.join(command)}`: exit {result.returncode}\n"
        f"{result.stdout[-800:]}{result.stderr[-1500:]}"
        for (version, command), result in zip(runs, done)
        if result.returncode != 0 or result.stdout != expected[command] or result.stderr
    ]
    assert not wrong, "\n".join(wrong)


def test_older_pythons_get_one_line_naming_the_python_to_install(pyz: Path) -> None:
    pythons = require_pythons(TOO_OLD)
    entry = _load_entry()
    versions = _run_all(
        [[p, "-c", "import platform; print(platform.python_version())"] for p in pythons.values()]
    )
    # What the entry says here: this machine's distribution and the newer Pythons it has.
    release, found = entry.read_os_release(), entry.newer_pythons()
    runs = [(v, c) for v in pythons for c in (("--version",), ("list",))]
    done = _run_all([[pythons[v], str(pyz), *c] for v, c in runs])
    for (version, command), result in zip(runs, done):
        this = versions[list(pythons).index(version)].stdout.strip()
        line = entry.advice(this, release, found, str(pyz))
        what = f"Python {this} `{' '.join(command)}`"
        assert (result.returncode, result.stdout) == (3, ""), f"{what}: {result.stderr}"
        assert result.stderr == line + "\n", what
        assert line.startswith(f"wirecheck needs Python 3.9 or newer; this is Python {this} on ")


def _load_entry() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pyz_main", ROOT / "packaging" / "pyz_main.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
