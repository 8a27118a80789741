"""A bundle made inside the lab's VM: nothing of the lab VM's identity is left in it.

Builds its own lab (a unique name, so it never meets another lab), runs `wirecheck bundle`
in the VM namespace against the simulated platform, tears the lab down (also when the
test fails), then reads every file of the archive.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def lab_vm() -> Iterator[str]:
    """The VM namespace of a freshly built healthy lab."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("the lab needs Linux, root and iproute2")
    names = pytest.importorskip("wirecheck.lab.names")
    if not (ROOT / "wirecheck" / "lab" / "__main__.py").exists():
        pytest.skip("the lab command is not there yet")
    lab = f"bd{os.getpid() % 100000}"
    command = [sys.executable, "-m", "wirecheck.lab"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        up = subprocess.run(
            [*command, "up", "--name", lab], capture_output=True, text=True, timeout=120, env=env
        )
        assert up.returncode == 0, up.stdout + up.stderr
        yield str(names.lab_names(lab).vm)
    finally:
        subprocess.run(
            [*command, "down", "--name", lab, "--purge"], capture_output=True, timeout=120, env=env
        )


def test_bundle_in_the_lab_vm_leaves_no_identity(lab_vm: str, tmp_path: Path) -> None:
    from wirecheck.lab import names

    done = subprocess.run(
        [
            *("ip", "netns", "exec", lab_vm),
            *(sys.executable, "-m", "wirecheck", "bundle", "--force", "--timeout", "5"),
            *("--output", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    archive = Path(done.stdout.strip())
    files: dict[str, str] = {}
    with tarfile.open(archive) as bundle:
        for member in bundle.getmembers():
            handle = bundle.extractfile(member)
            assert handle is not None
            files[member.name.split("/", 1)[1]] = handle.read().decode("utf-8")
    everything = "\n".join(files.values()).lower() + archive.name.lower()
    hostname = os.uname().nodename.split(".")[0].lower()
    identity = [
        names.VM_PUBLIC_IP,
        names.VM_PRIMARY_MAC,
        names.VM_SECONDARY_MAC,
        names.VM_PRIMARY_MAC.replace(":", ""),
        names.VM_SECONDARY_MAC.replace(":", ""),
        names.DNS_SUFFIX.removesuffix(".internal.cloudapp.net"),
        names.vm_fqdn(hostname),
    ]
    for value in identity:
        assert value.lower() not in everything, f"{value} left in the lab bundle"
    assert not re.search(rf"(?<![\w.-]){re.escape(hostname)}(?![\w-])", "\n".join(files.values()))
    # The run itself happened against the simulated platform, and its facts are there.
    report = json.loads(files["reports/168-63-129-16_test.json"])
    assert report["target"] == "168.63.129.16" and report["exit_code"] in (0, 1)
    assert "168.63.129.16" in files["network/ip-route-get-target.txt"]
    # One token per value across files: the IMDS MAC (compact) is eth0's link address.
    imds = next((c for c in report["checks"] if c["id"] == "imds"), None)
    if imds is not None and imds["status"] == "ok":
        mac = re.search(r"REDACTED-MAC-\d+", imds["finding"])
        assert mac and f"link/ether {mac.group()} " in files["network/ip-address.txt"]
