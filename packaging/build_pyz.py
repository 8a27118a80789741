#!/usr/bin/env python3
"""Build `wirecheck.pyz`: one file that runs on a VM with only Python 3.9 to 3.13 and no pip.

    python3 packaging/build_pyz.py [--output dist/wirecheck.pyz] [--with-scapy] [-- PIP-ARGS]
    python3 packaging/build_pyz.py --lock [--python PYTHON3.9] [-- PIP-ARGS]

It is a zipapp (PEP 441, the standard library's `zipapp`): wirecheck's source, the
pure-Python releases pinned in `pyz-lock.txt` (vendored with `pip install --target`), and
`pyz_main.py` as its `__main__.py`, which parses on any Python back to 2.7 and, on one
older than 3.9, names the Python to install on that distribution and exits 3.

The dependencies are resolved for Python 3.9, the oldest the file supports:
- `--lock` rewrites `pyz-lock.txt`. A Python 3.9 interpreter resolves pyproject's
  dependencies itself: pip's `--python-version` evaluates environment markers for the
  Python that runs pip, not the target (and pips before 24 let releases for newer Pythons
  through from indexes that do not publish Requires-Python). Whatever a dependency needs
  by its markers on another supported Python or on Windows (colorama, for click) is added,
  and resolved again.
- The build installs exactly those pins, `--no-deps`, pure-Python wheels only, so any
  Python 3.9-3.13 with pip builds the same file; then it checks what it got: every release
  admits Python 3.9 to 3.13 and everything one of them declares it needs there is inside.
Left out:
- psutil (a C extension, which cannot load from a zip). wirecheck uses it for the IPv4
  addresses of each interface and falls back to the kernel's SIOCGIFCONF ioctl
  (`wirecheck/platform/ifaddrs.py`, Linux); a psutil installed on the VM (Debian/Ubuntu
  `python3-psutil`) is used when present. The lab needs it (its preflight says so).
- scapy, unless `--with-scapy`: only the raw traceroute engine uses it; without it that
  engine says scapy is missing and the kernel engine traces instead.
- typer 0.29 and later, which need pydantic, whose core is compiled (pyproject's pin).
Offline builds: pass pip options after `--`, e.g. `-- --no-index --find-links /wheels`.
"""

from __future__ import annotations

import argparse
import email.parser
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipapp
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

try:  # the build needs pip anyway; its own copy of `packaging` reads markers and versions
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.specifiers import SpecifierSet
    from pip._vendor.packaging.utils import canonicalize_name
except ImportError:  # a pip that stopped vendoring it: the standalone distribution
    from packaging.requirements import Requirement  # type: ignore[no-redef]
    from packaging.specifiers import SpecifierSet  # type: ignore[no-redef]
    from packaging.utils import canonicalize_name  # type: ignore[no-redef]

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: the TOML reader pip itself uses
    from pip._vendor import tomli as tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOCK = HERE / "pyz-lock.txt"
ENTRY = HERE / "pyz_main.py"
# Dependencies with a compiled core that wirecheck can do without (see the docstring).
LEFT_OUT = frozenset({"psutil"})
# Dependencies the file leaves out unless asked: the feature that needs them says so.
OPTIONAL = frozenset({"scapy"})
SUPPORTED = ((3, 9), (3, 10), (3, 11), (3, 12), (3, 13))
OLDEST = "{}.{}".format(*SUPPORTED[0])
# The machines the one file serves: markers are evaluated for each, with each Python.
PLATFORMS = (
    {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"},
    {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"},
)
# Wheels that any Python 3.9+ anywhere can load: pure Python, no ABI, no platform.
PURE_FOR_OLDEST = (
    "--only-binary=:all:",
    *("--python-version", OLDEST, "--implementation", "py", "--abi", "none"),
    *("--platform", "any"),
)
NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
PIP_QUIET = ("--quiet", "--disable-pip-version-check", "--root-user-action=ignore", "--no-compile")
LOCK_HEADER = """\
# The releases wirecheck.pyz carries, resolved for Python {oldest} (the oldest it supports)
# by `packaging/build_pyz.py --lock`; the build installs exactly these. Edit pyproject's
# dependencies, not this file, and run --lock again.
"""


class BuildError(Exception):
    """Why the file cannot be built, in one message."""


@dataclass(frozen=True)
class Dist:
    """One release installed in a staging directory, from its METADATA."""

    name: str  # canonical
    version: str
    requires_python: str
    requires: tuple[str, ...]


def project_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[Requirement]:
    """pyproject's runtime dependencies, minus those the file never carries."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    found = [Requirement(line) for line in data["project"]["dependencies"]]
    return [req for req in found if canonicalize_name(req.name) not in LEFT_OUT]


def installed(stage: Path) -> dict[str, Dist]:
    dists = {}
    for metadata in sorted(stage.glob("*.dist-info/METADATA")):
        message = email.parser.Parser().parsestr(metadata.read_text(encoding="utf-8"))
        name = canonicalize_name(message["Name"])
        dists[name] = Dist(
            name,
            message["Version"],
            message.get("Requires-Python") or "",
            tuple(message.get_all("Requires-Dist") or ()),
        )
    return dists


def _environments() -> Iterator[dict[str, str]]:
    for major, minor in SUPPORTED:
        for platform in PLATFORMS:
            yield {
                **platform,
                "python_version": f"{major}.{minor}",
                "python_full_version": f"{major}.{minor}.0",
                "implementation_name": "cpython",
                "platform_python_implementation": "CPython",
            }


def _needed_on(req: Requirement, extras: Iterable[str]) -> set[tuple[int, int]]:
    """The supported Pythons that need `req`, on Linux or Windows."""
    if req.marker is None:
        return set(SUPPORTED)
    marker = req.marker
    return {
        (int(env["python_version"].split(".")[0]), int(env["python_version"].split(".")[1]))
        for env in _environments()
        for extra in ("", *extras)
        if marker.evaluate({**env, "extra": extra})
    }


Edge = tuple[str, Requirement, frozenset[tuple[int, int]]]


def _wanted(dists: dict[str, Dist], top: list[Requirement]) -> list[Edge]:
    """(who needs it, requirement, on which Pythons) for everything the file must carry,
    transitively."""
    extras: dict[str, set[str]] = {canonicalize_name(r.name): set(r.extras) for r in top}
    edges: list[Edge] = [("pyproject.toml", req, frozenset(SUPPORTED)) for req in top]
    seen = {(who, str(req)) for who, req, _ in edges}  # older packaging: no Requirement.__eq__
    changed = True
    while changed:  # until no release gains a requirement or an extra
        changed = False
        for dist in dists.values():
            if dist.name not in extras:
                continue
            for line in dist.requires:
                req = Requirement(line)
                pythons = _needed_on(req, extras[dist.name])
                if not pythons:
                    continue
                who = f"{dist.name} {dist.version}"
                if (who, str(req)) not in seen:
                    seen.add((who, str(req)))
                    edges.append((who, req, frozenset(pythons)))
                    changed = True
                name = canonicalize_name(req.name)
                if not set(req.extras) <= extras.setdefault(name, set()):
                    extras[name] |= set(req.extras)
                    changed = True
    return edges


def problems(dists: dict[str, Dist], top: list[Requirement], omitted: frozenset[str]) -> list[str]:
    """What makes this set of releases wrong for the file; empty when it is right."""
    found = []
    for dist in dists.values():
        spec = SpecifierSet(dist.requires_python)
        too_new = [f"{a}.{b}" for a, b in SUPPORTED if not spec.contains(f"{a}.{b}.0", True)]
        if too_new:
            found.append(
                f"{dist.name} {dist.version} is not for Python {', '.join(too_new)} "
                f"(Requires-Python {dist.requires_python})"
            )
    for who, req, pythons in _wanted(dists, top):
        name = canonicalize_name(req.name)
        if name in omitted:
            continue
        dist = dists.get(name)
        if dist is None:
            found.append(f"{who} needs {req}, which is not in the file")
        # One file carries one release of each: the one for the oldest Python. A newer
        # Python may ask for a newer release that the oldest cannot have (typer asks for
        # click>=8.2.1 on 3.10+, and click 8.2 needs 3.10); the file's tests run it on each.
        elif SUPPORTED[0] in pythons and not req.specifier.contains(dist.version, True):
            found.append(f"{who} needs {req}, not {dist.name} {dist.version}")
    return found


def read_lock(path: Path = LOCK) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def pip_install(python: str, stage: Path, args: Iterable[str]) -> None:
    command = [python, "-m", "pip", "install", *PIP_QUIET, "--target", str(stage), *args]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise BuildError(f"pip failed (exit {done.returncode}): {' '.join(command)}")


def native_files(stage: Path) -> list[Path]:
    return sorted(p for p in stage.rglob("*") if p.is_file() and p.name.endswith(NATIVE_SUFFIXES))


def build(
    output: Path, pip_args: list[str], *, with_scapy: bool = False, lock: Path = LOCK
) -> Path:
    omitted = LEFT_OUT if with_scapy else LEFT_OUT | OPTIONAL
    pins = {name: version for name, version in read_lock(lock).items() if name not in omitted}
    with tempfile.TemporaryDirectory(prefix="wirecheck-pyz-") as temp:
        stage = Path(temp) / "stage"
        pinned = [f"{name}=={version}" for name, version in sorted(pins.items())]
        pip_install(sys.executable, stage, ["--no-deps", *PURE_FOR_OLDEST, *pip_args, *pinned])
        dists = installed(stage)
        wrong = problems(dists, project_requirements(), omitted)
        if set(dists) != set(pins):
            wrong.append(f"pip installed {sorted(dists)}, not the pins {sorted(pins)}")
        if wrong:
            raise BuildError(
                f"{lock.name} does not fit pyproject.toml or Python 3.9-3.13: "
                + "; ".join(wrong)
                + ". Run `python3 packaging/build_pyz.py --lock`."
            )
        native = native_files(stage)
        if native:  # pure wheels only were asked for: this would be pip's or a wheel's fault
            listed = ", ".join(str(p.relative_to(stage)) for p in native)
            raise BuildError(f"native extensions would not load from a zip: {listed}")
        shutil.copytree(
            ROOT / "wirecheck",
            stage / "wirecheck",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        # Console scripts and caches are of no use inside the zip.
        for junk in [stage / "bin", *stage.rglob("__pycache__")]:
            shutil.rmtree(junk, ignore_errors=True)
        shutil.copyfile(ENTRY, stage / "__main__.py")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(f".{output.name}.part")
        zipapp.create_archive(stage, partial, interpreter="/usr/bin/env python3", compressed=True)
        os.chmod(partial, 0o755)
        os.replace(partial, output)  # a half-built file never carries the final name
    return output


def find_oldest_python() -> str | None:
    """A Python 3.9: this one, the newest pyenv build of 3.9, or python3.9 on PATH."""
    if sys.version_info[:2] == SUPPORTED[0]:
        return sys.executable
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    if shutil.which("pyenv"):
        done = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        root = done.stdout.strip() or root
    builds = glob.glob(os.path.join(root, "versions", f"{OLDEST}.*", "bin", f"python{OLDEST}"))

    def patch(path: str) -> int:
        match = re.search(rf"/{re.escape(OLDEST)}\.(\d+)/", path)
        return int(match.group(1)) if match else -1

    builds.sort(key=patch)
    return builds[-1] if builds else shutil.which(f"python{OLDEST}")


def write_lock(python: str, pip_args: list[str], lock: Path = LOCK) -> dict[str, str]:
    """Resolve with `python` (a 3.9) until every marker of every supported Python is met."""
    top = [*project_requirements()]
    asked = [str(req) for req in top]
    for _ in range(5):
        with tempfile.TemporaryDirectory(prefix="wirecheck-lock-") as temp:
            stage = Path(temp) / "stage"
            pip_install(python, stage, ["--only-binary=:all:", *pip_args, *asked])
            dists = installed(stage)
        missing = [
            req
            for _, req, _ in _wanted(dists, top)
            if canonicalize_name(req.name) not in dists
            and canonicalize_name(req.name) not in LEFT_OUT
        ]
        if not missing:
            break
        # Needed elsewhere (another Python, Windows): ask for it without its marker.
        for req in missing:
            req.marker = None
            asked.append(str(req))
    else:
        raise BuildError(f"the resolution did not settle; still missing: {missing}")
    wrong = problems(dists, top, LEFT_OUT)
    if wrong:
        raise BuildError("the releases Python 3.9 resolves do not fit: " + "; ".join(wrong))
    pins = {dist.name: dist.version for dist in dists.values()}
    lines = [f"{name}=={version}" for name, version in sorted(pins.items())]
    lock.write_text(LOCK_HEADER.format(oldest=OLDEST) + "\n".join(lines) + "\n", "utf-8")
    return pins


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
    parser.add_argument(
        "--with-scapy", action="store_true", help="carry scapy for the raw traceroute engine"
    )
    parser.add_argument(
        "--lock", action="store_true", help=f"rewrite {LOCK.name} (resolved with Python 3.9)"
    )
    parser.add_argument("--python", help="the Python 3.9 that --lock resolves with")
    options = parser.parse_args(args)
    try:
        if options.lock:
            python = options.python or find_oldest_python()
            if python is None:
                raise BuildError(f"--lock needs a Python {OLDEST}: pass --python PATH")
            pins = write_lock(python, pip_args)
            print(f"{LOCK} ({len(pins)} releases, resolved with {python})")
            return 0
        path = build(options.output, pip_args, with_scapy=options.with_scapy)
    except BuildError as exc:
        print(f"build_pyz: {exc}", file=sys.stderr)
        return 1
    print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
