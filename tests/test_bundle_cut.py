"""Cutting to a size cap: on line boundaries, and never leaving part of a private key.

The keys here are made up: random base64 lines between real armor lines.
"""

from __future__ import annotations

import base64
import random
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from wirecheck.bundle.build import create_bundle
from wirecheck.bundle.collect import Collector, Limits
from wirecheck.bundle.cut import (
    DROPPED,
    cut_head,
    cut_tail,
    drop_headless_key,
    drop_unterminated_key,
)
from wirecheck.bundle.items import CommandItem, FileItem
from wirecheck.system import CommandResult, System

KIB = 1024


def _key(seed: int, lines: int = 25) -> tuple[str, list[str]]:
    """A made-up key block (64-character base64 lines) and its body lines."""
    rnd = random.Random(seed)
    body = [
        base64.b64encode(rnd.getrandbits(8 * 48).to_bytes(48, "big")).decode() for _ in range(lines)
    ]
    block = "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *body, "-----END RSA PRIVATE KEY-----"])
    return block + "\n", body


def _log(lines: int, start: int = 0) -> str:
    return "".join(
        f"2026-10-02T07:{n % 60:02d}:00.000000Z INFO ExtHandler line {n:06d}\n"
        for n in range(start, start + lines)
    )


def test_cut_head_and_tail_fall_on_line_boundaries() -> None:
    data = _log(1000).encode()
    head = cut_head(data, 10 * KIB)
    tail = cut_tail(data, 10 * KIB)
    assert len(head.encode()) <= 10 * KIB and head.endswith("\n")
    assert head.startswith("2026-") and data.decode().startswith(head)
    assert len(tail.encode()) <= 10 * KIB and tail.startswith("2026-")
    assert data.decode().endswith(tail)
    assert cut_head(data, len(data)) == data.decode()  # under the cap: untouched


def test_one_long_line_is_cut_without_splitting_a_character() -> None:
    data = ("é" * 10_000).encode()  # two bytes each, no line break
    head = cut_head(data, 1001)
    tail = cut_tail(data, 1001)
    assert head == "é" * 500 and tail == "é" * 500


def test_a_headless_key_body_is_dropped_up_to_its_end_line() -> None:
    block, body = _key(1)
    text = body[10][20:] + "\n" + "\n".join(body[11:]) + "\n-----END RSA PRIVATE KEY-----\n"
    text += "next line\n"
    assert drop_headless_key(text) == f"{DROPPED}\nnext line\n"
    whole = f"before\n{block}after\n"
    assert drop_headless_key(whole) == whole  # a whole key is the redactor's job


def test_an_unterminated_key_is_dropped_from_its_begin_line() -> None:
    block, _body = _key(2)
    text = "first\nsecond\n" + block[: len(block) // 2]
    assert drop_unterminated_key(text) == f"first\nsecond\n{DROPPED}\n"
    assert drop_unterminated_key("first\n" + block) == "first\n" + block


def _body_left(text: str, body: Sequence[str]) -> list[str]:
    return [line for line in body if line in text or line[:24] in text]


def test_log_tail_that_starts_inside_a_key_keeps_no_body_line(tmp_path: Path) -> None:
    """The issue's case: the BEGIN line fell just before the tail; 19 lines and END leaked."""
    block, body = _key(3)
    head = _log(2000)
    after = _log(200, start=5000)
    log = tmp_path / "waagent.log"
    log.write_text(head + block + after)
    # The tail starts 6 lines and a bit into the key body.
    cut_at = len(head) + len("-----BEGIN RSA PRIVATE KEY-----\n") + 6 * 65 + 10
    limits = Limits(log_tail_bytes=log.stat().st_size - cut_at)
    [item] = Collector(System(), limits).collect([FileItem(str(log), tail=True)])
    assert item.text is not None and item.entry["truncated"] is True
    assert "-----BEGIN" not in item.text and _body_left(item.text, body) == []
    assert item.text.startswith(DROPPED) and item.text.endswith(after)


def test_command_output_cut_inside_a_key_keeps_no_body_line() -> None:
    block, body = _key(4)
    output = _log(100) + block + _log(100, start=500)
    cap = len(_log(100)) + len(block) // 2 + 200  # room for the marker, inside the key

    def run_command(argv: Sequence[str], timeout_s: float) -> CommandResult:
        return CommandResult(tuple(argv), 0, output)

    system = System(run_command=run_command, is_root=lambda: True)
    [item] = Collector(system, Limits(item_bytes=cap)).collect(
        [CommandItem("agent/dump.txt", ("dump",))]
    )
    assert item.text is not None and item.entry["truncated"] is True
    assert len(item.text.encode()) <= cap
    assert "-----BEGIN" not in item.text and _body_left(item.text, body) == []
    assert item.text.startswith(_log(100)) and DROPPED in item.text


@pytest.mark.parametrize("redact", [True, False], ids=["redacted", "no-redact"])
def test_the_whole_bundle_leaves_no_part_of_a_cut_key(tmp_path: Path, redact: bool) -> None:
    """The real tail reader on a real file, through the bundle, with and without redaction."""
    block, body = _key(5)
    log = tmp_path / "logs" / "agent.log"
    log.parent.mkdir()
    begin_at = 300 * KIB
    head = _log(begin_at // 50)
    content = head + block + _log(3000, start=90_000)
    log.write_text(content)
    # The tail begins 200 bytes after the BEGIN line: inside the body.
    tail = len(content.encode()) - len(head.encode()) - 200
    result = create_bundle(
        tmp_path / "out",
        None,
        not_run_reason="test",
        redact=redact,
        items=[FileItem(str(log), tail=True)],
        limits=Limits(log_tail_bytes=tail),
    )
    with tarfile.open(result.path) as archive:
        texts = []
        for member in archive.getmembers():
            handle = archive.extractfile(member)
            assert handle is not None
            texts.append(handle.read().decode())
    everything = "\n".join(texts)
    assert _body_left(everything, body) == [] and DROPPED in everything
