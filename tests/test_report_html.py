"""The HTML report: self-contained, escaped, and really rendered by headless Chromium.

Chromium runs with its traffic sent to a local sink proxy that answers 502 to everything
and records what was asked, and with DNS resolution switched off, so nothing it does can
leave this machine; the sink is also how the tests see what the page requests. Chromium
itself asks for a few of its own service hosts (component updates, accounts) whatever the
flags say: those are listed in BROWSER_SERVICE_HOSTS and told apart from the page's own.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html.parser
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.report_sample import sample_report
from wirecheck.model import CheckResult, Report, Status
from wirecheck.report.html import CSS, Hop, parse_trace_text, render_html, trace_hops

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_SERVICE_HOSTS = ("google.com", "googleapis.com", "gstatic.com", "gvt1.com")
FAIL_RED = (0xCF, 0x22, 0x2E)
URL_ATTRIBUTES = {"src", "href", "srcset", "action", "formaction", "poster", "data", "background"}
HOSTILE = '<script>alert(1)</script><img src="http://evil.invalid/x.png"> " onload="x'


# -- structure (no browser) -----------------------------------------------------------


class _Tags(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def _report_with(text: str) -> Report:
    """The sample report plus a row, and a host name, made of `text` everywhere."""
    report = sample_report()
    row = CheckResult(
        "wire-versions", text, Status.FAIL, text, {"body": text + "\n" + text, text: [text]}, text
    )
    return dataclasses.replace(
        report, results=(*report.results, row), facts={**report.facts, "hostname": text}
    )


def _hostile_report() -> Report:
    return _report_with(HOSTILE)


def test_csp_allows_only_the_inline_stylesheet_by_hash() -> None:
    page = render_html(sample_report())
    digest = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
    csp = [v for tag, name, v in _parse(page).attributes if tag == "meta" and name == "content"]
    policy = next(v for v in csp if v and "default-src" in v)
    assert "default-src 'none'" in policy
    assert f"style-src 'sha256-{digest}'" in policy
    assert f"<style>{CSS}</style>" in page  # the hash is of exactly this text


def test_no_script_and_no_reference_to_anything_outside_the_file() -> None:
    parsed = _parse(render_html(_hostile_report()))
    assert "script" not in parsed.tags
    assert [a for a in parsed.attributes if a[1] in URL_ATTRIBUTES] == []
    assert not re.search(r"url\(|@import", CSS)


def test_hostile_strings_do_not_change_the_page_structure() -> None:
    hostile = render_html(_hostile_report())
    assert _parse(hostile).tags == _parse(render_html(_report_with("plain words"))).tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile


def test_verdict_banner_diagnosis_first_then_table_paths_facts() -> None:
    page = render_html(sample_report())
    order = [page.index(marker) for marker in ('id="verdict"', 'id="diagnosis"', 'id="checks"')]
    order += [page.index(marker) for marker in ('id="paths"', 'id="facts"')]
    assert order == sorted(order)
    assert '<h1 id="verdict">FAIL</h1>' in page
    assert 'class="banner v-fail"' in page
    assert '<details id="facts">' in page  # folded


@pytest.mark.parametrize(
    ("text", "hops"),
    [
        (
            "traceroute to 168.63.129.16 (168.63.129.16), 30 hops max, 60 byte packets\n"
            " 1  168.63.129.16  0.512 ms  0.301 ms  0.290 ms\n",
            (Hop(1, "168.63.129.16", (0.512, 0.301, 0.290)),),
        ),
        (
            " 1  * * *\n 2  10.0.0.1 (10.0.0.1)  1.5 ms * 2.0 ms\n",
            (Hop(1, None), Hop(2, "10.0.0.1", (1.5, 2.0))),
        ),
        (" 3  host.example (192.0.2.7)  4 ms\n", (Hop(3, "192.0.2.7", (4.0,)),)),
        ("not a trace\n", ()),
    ],
)
def test_parse_trace_text(text: str, hops: tuple[Hop, ...]) -> None:
    assert parse_trace_text(text) == hops


def test_structured_hops_win_over_text() -> None:
    evidence = {
        # The shape trace-80/trace-32526 write (wirecheck/trace.py Hop.to_dict).
        "hops": [
            {"ttl": 1, "address": "10.0.0.1", "rtts_ms": [0.4], "kind": "router"},
            {"ttl": 2, "address": None, "rtts_ms": [], "kind": "none"},
            {"ttl": 3, "address": "168.63.129.16", "rtts_ms": [1.0, 1.2], "kind": "target"},
        ],
        "traceroute_text": " 1  192.0.2.1  1 ms\n",
    }
    assert trace_hops(evidence) == (
        Hop(1, "10.0.0.1", (0.4,)),
        Hop(2, None),
        Hop(3, "168.63.129.16", (1.0, 1.2)),
    )


def test_other_hop_spellings_are_read_too() -> None:
    evidence = {"hops": [{"hop": 1, "ip": "10.0.0.1", "rtt_ms": 0.4}, "junk", {"ttl": 2}]}
    assert trace_hops(evidence) == (Hop(1, "10.0.0.1", (0.4,)), Hop(2, None))


def test_path_marks_the_target_the_extra_hop_and_the_silent_one() -> None:
    page = render_html(sample_report())
    path = page[page.index('<ol class="path">') :]
    path = path[: path.index("</ol>")]
    assert re.findall(r'class="node (\w+)"', path) == ["src", "mid", "lost", "hit"]


def test_unreached_target_is_drawn_as_missing() -> None:
    trace = CheckResult(
        "trace-80",
        "t",
        Status.FAIL,
        "no answer",
        {"traceroute_text": " 1  10.0.0.1  1 ms\n 2  * * *\n"},
    )
    page = render_html(dataclasses.replace(sample_report(), results=(trace,)))
    assert re.findall(r'class="node (\w+)"', page) == ["src", "mid", "lost", "miss"]


# -- headless Chromium ----------------------------------------------------------------


class SinkProxy:
    """An HTTP proxy on 127.0.0.1 that forwards nothing: it records each request line."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0]
                    self.requests.append(first.decode("latin-1"))
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    def hosts(self) -> set[str]:
        found = set()
        for line in self.requests:
            match = re.match(r"^[A-Z]+ (?:https?://)?([^/:\s]+)", line)
            if match:
                found.add(match.group(1))
        return found

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def sink() -> Iterator[SinkProxy]:
    proxy = SinkProxy()
    yield proxy
    proxy.close()


def _chromium(
    sink: SinkProxy, tmp_path: Path, url: str, *args: str
) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip("chromium not installed (apt install chromium)")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        # Everything goes to the sink; nothing is resolved, so nothing leaves this machine.
        f"--proxy-server=http://127.0.0.1:{sink.port}",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--enable-logging=stderr",
        "--v=0",
        "--hide-scrollbars",
        *args,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)


def _page_hosts(sink: SinkProxy) -> set[str]:
    return {
        host
        for host in sink.hosts()
        if not any(host == s or host.endswith("." + s) for s in BROWSER_SERVICE_HOSTS)
    }


def _png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and raw rows of an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        method, row = line[0], bytearray(line[1:])
        for x in range(stride):
            left = row[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if method == 1:
                row[x] = (row[x] + left) & 0xFF
            elif method == 2:
                row[x] = (row[x] + up) & 0xFF
            elif method == 3:
                row[x] = (row[x] + (left + up) // 2) & 0xFF
            elif method == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[x] = (row[x] + pred) & 0xFF
        rows.append(bytes(row))
        previous = row
    return width, height, rows


def _pixel(rows: list[bytes], x: int, y: int, channels: int) -> tuple[int, int, int]:
    r, g, b = rows[y][x * channels : x * channels + 3]
    return (r, g, b)


@pytest.mark.parametrize(("width", "height"), [(1280, 1400), (390, 1700)])
def test_chromium_renders_and_screenshots_the_page(
    sink: SinkProxy, tmp_path: Path, width: int, height: int
) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sample_report()), encoding="utf-8")
    shot = tmp_path / f"report-{width}.png"
    done = _chromium(
        sink, tmp_path, page.as_uri(), f"--window-size={width},{height}", f"--screenshot={shot}"
    )
    assert shot.exists(), done.stderr[-2000:]
    png_width, png_height, rows = _png_pixels(shot)
    assert (png_width, png_height) == (width, height)
    channels = len(rows[0]) // png_width
    # The banner is the FAIL red: the stylesheet was applied (the CSP hash matched).
    assert _pixel(rows, 5, 5, channels) == FAIL_RED
    assert _pixel(rows, width - 5, 20, channels) == FAIL_RED
    # ...and the page below it is white with text: it rendered beyond the banner.
    body = {_pixel(rows, x, y, channels) for y in range(300, 600, 7) for x in range(0, width, 5)}
    assert (255, 255, 255) in body and len(body) > 20
    assert "Content Security Policy" not in done.stderr
    assert _page_hosts(sink) == set()
    keep = os.environ.get("WIRECHECK_ARTIFACTS")  # a directory to keep screenshots for people
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)


def test_chromium_dom_shows_the_verdict(sink: SinkProxy, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sample_report()), encoding="utf-8")
    done = _chromium(sink, tmp_path, page.as_uri(), "--dump-dom")
    assert '<h1 id="verdict">FAIL</h1>' in done.stdout
    assert "TCP 32526 times out: something drops it" in done.stdout


def test_chromium_requests_nothing_for_the_page_even_with_hostile_content(
    sink: SinkProxy, tmp_path: Path
) -> None:
    page = tmp_path / "hostile.html"
    rendered = render_html(_hostile_report())
    # Belt and braces: even markup that got in unescaped must be blocked by the CSP.
    injected = rendered.replace(
        "<main>",
        '<main><img src="http://injected.invalid/x.png">'
        '<link rel="stylesheet" href="https://injected.invalid/s.css">',
    )
    page.write_text(injected, encoding="utf-8")
    done = _chromium(sink, tmp_path, page.as_uri(), "--dump-dom")
    assert "injected.invalid" in done.stdout  # the page did load
    assert _page_hosts(sink) == set(), sink.requests
    assert "violates the following Content Security Policy directive" in done.stderr


def test_the_sink_sees_a_page_request_when_there_is_one(sink: SinkProxy, tmp_path: Path) -> None:
    """The control: without our CSP, an image URL in a page is requested through the sink."""
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><img src="http://control.invalid/x.png">', encoding="utf-8")
    _chromium(sink, tmp_path, page.as_uri(), "--dump-dom")
    assert "control.invalid" in _page_hosts(sink)


@pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext missing (apt install poppler-utils)"
)
def test_printed_page_unfolds_evidence_and_facts(sink: SinkProxy, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sample_report()), encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    _chromium(sink, tmp_path, page.as_uri(), "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "FAIL" in text
    # Folded on screen, printed on paper: a fact and an evidence value.
    assert "Linux 6.1.0-28-cloud-amd64" in text
    assert "10.1.0.4:50412" in text
    assert _page_hosts(sink) == set()
