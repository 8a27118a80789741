"""Fix and finding texts agree with what Azure documents about the platform address: the
facts live in wirecheck/advice.py only, and no text sends an admin to a route table or a
network security group for TCP 80/32526."""

from __future__ import annotations

import re
from pathlib import Path

from tests import facts
from tests.facts import row
from wirecheck import advice
from wirecheck.diagnose import diagnose
from wirecheck.model import Status

PACKAGE = Path(__file__).resolve().parent.parent / "wirecheck"
# Words that name Azure network configuration: only advice.py may use them.
AZURE_NETWORK_WORDS = re.compile(
    r"\bNSGs?\b|\bUDRs?\b|user-defined route|security group|effective route|\bNVAs?\b",
    re.IGNORECASE,
)


def test_only_advice_names_nsgs_and_udrs() -> None:
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "advice.py" and "lab" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if AZURE_NETWORK_WORDS.search(line)
    ]
    assert found == [], "say it with wirecheck.advice:\n" + "\n".join(found)


def test_nsg_advice_for_dns_names_the_service_tag_and_80_32526_get_none() -> None:
    assert "AzurePlatformDNS" in advice.nsg_rule("dns")
    assert "AzurePlatformIMDS" in advice.nsg_rule("imds")
    assert advice.beyond_the_guest("80 and 32526").startswith(
        "no NSG and no UDR applies to TCP 80 and 32526"
    )


def test_a_blackhole_as_root_is_not_blamed_on_udrs_or_nsgs() -> None:
    rows = [
        row("tcp-80", Status.FAIL, "timed out", facts.connect(80, "timeout")),
        row("tcp-32526", Status.FAIL, "timed out", facts.connect(32526, "timeout")),
        row("privileges", Status.OK, "root", facts.privileges(True)),
        row("firewall", Status.OK, "no rule", facts.firewall()),
    ]
    (cause,) = diagnose(rows)
    text = f"{cause.summary} {cause.fix}"
    assert "no nsg and no udr applies to tcp 80 and 32526" in text.lower()
    assert "effective routes" not in text and "NVA" not in text
    assert "ip route replace 168.63.129.16/32 via <primary gateway>" in cause.fix
