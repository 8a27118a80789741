# The single file's entry point: build_pyz.py copies it into wirecheck.pyz as __main__.py.
#
# It runs first, on whatever Python the VM has, so it must parse and run on all of them,
# back to Python 2.7: no f-strings, no annotations, no keyword-only arguments, ASCII only.
# On a Python older than 3.9 it prints one line (the Python wirecheck needs, and the package
# that gives it on this distribution) and exits 3, wirecheck's "could not run"; on 3.9 or
# newer it hands over to wirecheck.
import io
import os
import sys

NEEDS = (3, 9)
EXIT_COULD_NOT_RUN = 3
OS_RELEASE = "/etc/os-release"
# Where distribution packages and `make altinstall` put python3.X.
BIN_DIRS = ("/usr/local/bin", "/usr/bin")

# Releases whose own packages give a Python 3.9+ beside an older default python3:
# (ID or ID_LIKE values, VERSION_ID or its major part, install command, interpreter).
PACKAGES = (
    (("rhel", "centos", "almalinux", "rocky", "ol"), "8", "sudo dnf install python39", "python3.9"),
    (
        ("sles", "sles_sap", "sled", "opensuse-leap", "suse"),
        "15",
        "sudo zypper install python311",
        "python3.11",
    ),
    (("ubuntu",), "20.04", "sudo apt install python3.9", "python3.9"),
)
# Releases with no such package: what to do instead.
NO_PACKAGE = (
    (("rhel", "centos", "ol"), "7", "release 8 (dnf install python39) or newer"),
    (("debian",), "10", "Debian 11 (Python 3.9) or newer"),
    (("debian",), "9", "Debian 11 (Python 3.9) or newer"),
    (("ubuntu",), "18.04", "Ubuntu 20.04 (apt install python3.9) or newer"),
    (("ubuntu",), "16.04", "Ubuntu 20.04 (apt install python3.9) or newer"),
)


def parse_os_release(text):
    """/etc/os-release as a dict (KEY=value lines, values optionally quoted)."""
    fields = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        fields[key.strip()] = value
    return fields


def read_os_release(path=OS_RELEASE):
    try:
        with io.open(path, encoding="utf-8", errors="replace") as handle:
            return parse_os_release(handle.read())
    except (IOError, OSError):
        return {}


def newer_pythons(dirs=BIN_DIRS):
    """Full paths of the python3.X (X >= 9) in `dirs`, newest first."""
    found = []
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            minor = name[len("python3.") :]
            if not name.startswith("python3.") or not minor.isdigit():
                continue
            path = os.path.join(directory, name)
            if (3, int(minor)) >= NEEDS and os.access(path, os.X_OK):
                found.append(((3, int(minor)), path))
    found.sort(key=lambda item: item[0], reverse=True)
    return [path for _, path in found]


def _matches(release, families, version):
    ids = [release.get("ID", "")] + release.get("ID_LIKE", "").split()
    version_id = release.get("VERSION_ID", "")
    if "." not in version:  # a major version: 8 matches 8.10
        version_id = version_id.split(".")[0]
    return version_id == version and any(family in ids for family in families)


def advice(this_version, release, found, program):
    """The one line for a Python older than NEEDS: what to install, or what to run."""
    needs = "%d.%d" % NEEDS
    where = release.get("PRETTY_NAME") or release.get("NAME") or "this system"
    head = "wirecheck needs Python %s or newer; this is Python %s on %s" % (
        needs,
        this_version,
        where,
    )
    if found:
        return "%s. Run it with the newer Python here: %s %s" % (head, found[0], program)
    for families, version, command, python in PACKAGES:
        if _matches(release, families, version):
            return "%s. Install it with `%s`, then run: %s %s" % (head, command, python, program)
    for families, version, instead in NO_PACKAGE:
        if _matches(release, families, version):
            return "%s, which has no package of Python %s or newer: upgrade to %s." % (
                head,
                needs,
                instead,
            )
    return "%s. Install Python %s or newer from the distribution's packages and run: " % (
        head,
        needs,
    ) + ("python%s %s" % (needs, program))


def main():
    if sys.version_info < NEEDS:
        this = sys.version.split()[0]
        program = sys.argv[0] or "wirecheck.pyz"
        sys.stderr.write(advice(this, read_os_release(), newer_pythons(), program) + "\n")
        sys.exit(EXIT_COULD_NOT_RUN)
    from wirecheck.entry import main as wirecheck_main

    wirecheck_main()


if __name__ == "__main__":
    main()
