"""The interpreters the single file is tested with, found as scripts/test finds them.

Each comes from pyenv (`pyenv root`/versions/X.Y.*/bin/pythonX.Y, the newest patch release),
else from `pythonX.Y` on PATH. One that is missing fails the test that needs it, with the
command that installs it: a skipped interpreter would be an untested one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# The file runs on these...
SUPPORTED = ("3.9", "3.10", "3.11", "3.12", "3.13")
# ...and on these says, in one line, which Python to install instead.
TOO_OLD = ("2.7", "3.6", "3.7", "3.8")


def pyenv_root() -> Path:
    if shutil.which("pyenv"):
        done = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return Path(done.stdout.strip())
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def find_python(version: str, root: Path | None = None) -> str | None:
    """The newest pyenv build of `version` (X.Y), else pythonX.Y on PATH, else None."""
    builds = (root or pyenv_root()).glob(f"versions/{version}.*/bin/python{version}")
    pattern = re.compile(rf"/{re.escape(version)}\.(\d+)/bin/")

    def patch(path: Path) -> int:
        match = pattern.search(str(path))
        return int(match.group(1)) if match else -1

    found = sorted((p for p in builds if os.access(p, os.X_OK)), key=patch)
    if found:
        return str(found[-1])
    return shutil.which(f"python{version}")


def require_pythons(versions: tuple[str, ...]) -> dict[str, str]:
    """{X.Y: path} for every one of `versions`; fails the test naming any that is missing."""
    found = {version: find_python(version) for version in versions}
    missing = [version for version, path in found.items() if path is None]
    if missing:
        pytest.fail(
            f"Python {', '.join(missing)} not found (looked in {pyenv_root()}/versions and on "
            f"PATH): the single file is tested with each; install it, e.g. "
            f"`pyenv install {missing[0]}`",
            pytrace=False,
        )
    return {version: path for version, path in found.items() if path is not None}
