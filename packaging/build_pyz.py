#!/usr/bin/env python3
"""Build `wirecheck.pyz`: one file that runs on a VM with only Python 3.11+ and no pip.

    python3 packaging/build_pyz.py [--output dist/wirecheck.pyz] [-- EXTRA-PIP-ARGS]

It is a zipapp (PEP 441, the standard library's `zipapp`): wirecheck's source plus its
pure-Python dependencies, vendored with `pip install --target` on the build machine.
Code inside a zip can only be pure Python, so:
- psutil (a C extension) is left out. wirecheck needs it for one thing, the IPv4 addresses
  of each interface, and falls back to the kernel's SIOCGIFCONF ioctl when it is missing
  (`wirecheck/platform/ifaddrs.py`, Linux). A psutil installed on the VM (Debian/Ubuntu
  `python3-psutil`) is used when present, since the system site-packages stay on sys.path.
- typer is pinned below 0.29: from 0.29 on it needs pydantic, whose core is compiled.
- The build fails, naming the files, if any native extension slipped in.
Offline builds: pass pip options after `--`, e.g. `-- --no-index --find-links /wheels`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipapp
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: the TOML reader pip itself uses (pip runs the build)
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
# Dependencies with a compiled core that wirecheck can do without (see the docstring).
LEFT_OUT = frozenset({"psutil"})
# Versions whose dependencies stay pure Python; a constraint, applied on top of pyproject's.
PURE_PINS = ("typer<0.29",)
# Needed on Windows only (the markers are evaluated for the build machine): added explicitly
# so one file serves both.
ALWAYS = ("colorama",)
NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# The file needs Python 3.11, or the older Python that built it: its dependencies are the
# releases pip picks for the building Python.
NEEDS = "{}.{}".format(*min(sys.version_info[:2], (3, 11)))
MAIN = """\
import sys

if sys.version_info < (NEEDS_TUPLE):
    sys.exit(
        "wirecheck needs Python NEEDS or newer; this is " + sys.version.split()[0]
        + ". Install pythonNEEDS (or newer) and run: pythonNEEDS " + (sys.argv[0] or "wirecheck.pyz")
    )

from wirecheck.entry import main

main()
"""


def requirements(pyproject: Path) -> list[str]:
    """pyproject's runtime dependencies, minus those left out, plus the pure pins."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    deps = data["project"]["dependencies"]
    name = re.compile(r"^\s*([A-Za-z0-9_.-]+)")
    kept = []
    for dep in deps:
        match = name.match(dep)
        if match and match.group(1).lower().replace("_", "-") not in LEFT_OUT:
            kept.append(dep)
    return [*kept, *ALWAYS]


def native_files(stage: Path) -> list[Path]:
    return sorted(p for p in stage.rglob("*") if p.is_file() and p.name.endswith(NATIVE_SUFFIXES))


def build(output: Path, pip_args: list[str], python: str = sys.executable) -> Path:
    with tempfile.TemporaryDirectory(prefix="wirecheck-pyz-") as temp:
        stage = Path(temp) / "stage"
        constraints = Path(temp) / "constraints.txt"
        constraints.write_text("\n".join(PURE_PINS) + "\n", encoding="utf-8")
        command = [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            "--no-compile",
            "--only-binary=:all:",
            "--target",
            str(stage),
            "--constraint",
            str(constraints),
            *pip_args,
            *requirements(ROOT / "pyproject.toml"),
        ]
        subprocess.run(command, check=True)
        native = native_files(stage)
        if native:
            listed = ", ".join(str(p.relative_to(stage)) for p in native)
            raise SystemExit(
                f"build_pyz: native extensions would not load from a zip: {listed}. "
                "Pin the dependency that brought them to a pure-Python release in PURE_PINS."
            )
        shutil.copytree(
            ROOT / "wirecheck",
            stage / "wirecheck",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        # Console scripts and caches are of no use inside the zip.
        for junk in [stage / "bin", *stage.rglob("__pycache__")]:
            shutil.rmtree(junk, ignore_errors=True)
        main = MAIN.replace("NEEDS_TUPLE", NEEDS.replace(".", ", ")).replace("NEEDS", NEEDS)
        (stage / "__main__.py").write_text(main, encoding="utf-8")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.part")
        zipapp.create_archive(stage, partial, interpreter="/usr/bin/env python3", compressed=True)
        os.chmod(partial, 0o755)
        os.replace(partial, output)  # a half-built file never carries the final name
    return output


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    pip_args: list[str] = []
    if "--" in args:
        split = args.index("--")
        args, pip_args = args[:split], args[split + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--output", type=Path, default=ROOT / "dist" / "wirecheck.pyz", help="the file to write"
    )
    options = parser.parse_args(args)
    path = build(options.output, pip_args)
    print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
