"""One self-contained HTML file for people who would rather look than read.

Order follows what a reader wants first: the verdict banner, the diagnosis, the table of
checks (colour per status, evidence folded under each row), the traceroute hops drawn as a
path, then the facts, folded. No script, no external resource: the Content-Security-Policy
allows only this file's own stylesheet (by hash), so even a hostile string in the evidence
cannot load anything. Readable on a phone (the table becomes cards) and printed (colours
kept, folded parts opened).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from wirecheck.addresses import is_ip
from wirecheck.model import CheckResult, Report, Status
from wirecheck.report.junit import xml_safe

VERDICT = {0: "OK", 1: "WARN", 2: "FAIL"}

CSS = """\
:root{--ok:#1a7f37;--warn:#9a6700;--fail:#cf222e;--skip:#6e7781;--error:#8250df;
--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#ffffff;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--ink);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:0 16px 32px}
h2{font-size:1.15rem;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
code,pre{font:13px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0;background:var(--soft);
padding:6px 8px;border-radius:4px}
.banner{color:#fff;padding:18px 0}
.banner .inner{max-width:1100px;margin:0 auto;padding:0 16px}
.banner h1{margin:0;font-size:2rem;letter-spacing:.04em}
.banner p{margin:4px 0 0}
.v-ok{background:var(--ok)}.v-warn{background:var(--warn)}.v-fail{background:var(--fail)}
.meta{opacity:.92;font-size:.9rem}
.causes{padding-left:1.4em}
.causes li{margin-bottom:10px}
.cause{font-weight:600}
.fix{color:#0a3069}
.fix::before{content:"Fix: ";font-weight:600}
.ev{color:var(--muted);font-size:.9rem;margin:2px 0 0;padding-left:1.2em}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:8px;border-bottom:1px solid var(--line)}
th{background:var(--soft);font-size:.85rem;color:var(--muted)}
td.time{text-align:right;white-space:nowrap}
.badge{display:inline-block;min-width:4.2em;text-align:center;color:#fff;border-radius:4px;
padding:1px 6px;font-weight:700;font-size:.8rem}
.s-ok .badge{background:var(--ok)}.s-warn .badge{background:var(--warn)}
.s-fail .badge{background:var(--fail)}.s-skip .badge{background:var(--skip)}
.s-error .badge{background:var(--error)}
tr.s-fail td{background:#ffebe9}tr.s-warn td{background:#fff8c5}tr.s-error td{background:#fbefff}
.title{color:var(--muted);font-size:.85rem}
details{margin-top:6px}
summary{cursor:pointer;color:var(--muted);font-size:.9rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.path{display:flex;flex-wrap:wrap;align-items:center;gap:6px;list-style:none;padding:0;
margin:8px 0 18px}
.node{border:2px solid var(--line);border-radius:8px;padding:6px 10px;background:var(--soft);
min-width:7em}
.node b{display:block;font-size:.75rem;color:var(--muted);font-weight:600}
.node.src{border-color:#0969da}
.node.hit{border-color:var(--ok)}
.node.mid{border-color:var(--warn)}
.node.lost{border-style:dashed;color:var(--muted)}
.node.miss{border-color:var(--fail);color:var(--fail)}
.arrow{color:var(--muted);font-size:1.3rem}
footer{color:var(--muted);font-size:.8rem;margin-top:32px}
@media (max-width:640px){
.banner h1{font-size:1.6rem}
thead{display:none}
table,tbody,tr,td{display:block;width:100%}
tr{border:1px solid var(--line);border-radius:6px;margin-bottom:10px}
td{border:0;padding:6px 10px}
td.time{text-align:left}
.path{flex-direction:column;align-items:stretch}
.arrow{transform:rotate(90deg);text-align:center}
}
@media print{
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{font-size:11pt}
main{max-width:none}
details::details-content{display:block;content-visibility:visible}
summary{list-style:none}
tr,.node,.causes li{break-inside:avoid}
}
"""


def _csp(css: str) -> str:
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    # Nothing but this stylesheet: no script, no image, no font, no frame, no form target.
    # (frame-ancestors would be ignored in a <meta> policy, so it is not claimed.)
    return f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"


def _e(value: object) -> str:
    return html.escape(xml_safe(str(value)), quote=True)


@dataclass(frozen=True)
class Hop:
    ttl: int
    address: str | None  # None: no answer at this TTL (`* * *`)
    rtts_ms: tuple[float, ...] = ()


_TRACE_LINE = re.compile(r"^\s*(\d+)\s+(.*)$")
_RTT = re.compile(r"^\d+(?:\.\d+)?$")


def parse_trace_text(text: str) -> tuple[Hop, ...]:
    """Hops from `traceroute -T` text (`" 1  10.1.0.1  0.512 ms  0.301 ms"`, `" 2  * * *"`)."""
    hops: list[Hop] = []
    for line in text.splitlines():
        match = _TRACE_LINE.match(line)
        if not match:
            continue  # the "traceroute to ..." header and anything else
        address: str | None = None
        rtts: list[float] = []
        tokens = match.group(2).replace("(", " ").replace(")", " ").split()
        for index, token in enumerate(tokens):
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            if _RTT.match(token) and following == "ms":
                rtts.append(float(token))
            elif address is None and is_ip(token):
                address = token
        hops.append(Hop(int(match.group(1)), address, tuple(rtts)))
    return tuple(hops)


def trace_hops(evidence: Mapping[str, Any]) -> tuple[Hop, ...]:
    """Hops of a trace row: the structured `hops` list when present, else the text form."""
    structured = evidence.get("hops")
    if isinstance(structured, Sequence) and not isinstance(structured, str):
        hops = [_hop_from(item, n) for n, item in enumerate(structured, 1)]
        return tuple(hop for hop in hops if hop is not None)
    text = evidence.get("traceroute_text")
    return parse_trace_text(text) if isinstance(text, str) else ()


def _hop_from(item: object, position: int) -> Hop | None:
    if not isinstance(item, Mapping):
        return None
    ttl = item.get("ttl", item.get("hop", position))
    address = next(
        (item[k] for k in ("address", "addr", "ip", "host") if isinstance(item.get(k), str)), None
    )
    raw = next((item[k] for k in ("rtts_ms", "rtt_ms", "rtt") if k in item), ())
    values = raw if isinstance(raw, Sequence) and not isinstance(raw, str) else [raw]
    rtts = tuple(
        float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
    )
    return Hop(int(ttl) if isinstance(ttl, int) else position, address or None, rtts)


def render_html(report: Report) -> str:
    verdict = VERDICT.get(report.exit_code, "UNKNOWN")
    host = str(report.facts.get("hostname", ""))
    started = datetime.fromtimestamp(report.started_at, timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )
    headline = report.causes[0].summary if report.causes else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_csp(CSS))}">',
        '<meta name="referrer" content="no-referrer">',
        f'<meta name="generator" content="wirecheck {_e(report.version)}">',
        f"<title>wirecheck {verdict}: {_e(report.target)}"
        f"{' on ' + _e(host) if host else ''}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f'<header class="banner v-{verdict.lower()}"><div class="inner">',
        f'<h1 id="verdict">{verdict}</h1>',
        f"<p>{_e(headline)}</p>",
        f'<p class="meta">target {_e(report.target)}'
        f"{' &middot; host ' + _e(host) if host else ''} &middot; {_e(started)} &middot; "
        f"{report.duration_s:.2f} s &middot; {_tally(report.results)}</p>",
        "</div></header>",
        "<main>",
        *_diagnosis(report),
        *_table(report.results),
        *_paths(report),
        *_facts(report),
        f"<footer>wirecheck {_e(report.version)} &middot; exit code {report.exit_code} "
        "&middot; 0 ok, 1 warn, 2 fail, 3 could not run</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _tally(results: Sequence[CheckResult]) -> str:
    counts = {status: sum(r.status is status for r in results) for status in Status}
    return ", ".join(f"{n} {status.value}" for status, n in counts.items() if n)


def _diagnosis(report: Report) -> list[str]:
    lines = ['<section id="diagnosis">', "<h2>Diagnosis</h2>", '<ol class="causes">']
    for cause in report.causes:
        lines.append(f'<li><p class="cause">{_e(cause.summary)}</p>')
        lines.append(f'<p class="fix">{_e(cause.fix)}</p>')
        if cause.evidence:
            lines.append('<ul class="ev">')
            lines += [f"<li>{_e(item)}</li>" for item in cause.evidence]
            lines.append("</ul>")
        lines.append("</li>")
    lines += ["</ol>", "</section>"]
    return lines


def _table(results: Sequence[CheckResult]) -> list[str]:
    lines = [
        '<section id="checks">',
        "<h2>Checks</h2>",
        "<table>",
        "<thead><tr><th>Status</th><th>Check</th><th>Finding</th><th>Time</th></tr></thead>",
        "<tbody>",
    ]
    for result in results:
        fix = f'<p class="fix">{_e(result.fix)}</p>' if result.fix else ""
        lines.append(
            f'<tr class="s-{result.status.value}" id="check-{_e(result.check_id)}">'
            f'<td><span class="badge">{result.status.value.upper()}</span></td>'
            f'<td><code>{_e(result.check_id)}</code><br><span class="title">'
            f"{_e(result.title)}</span></td>"
            f"<td>{_e(result.finding)}{fix}{_evidence(result.evidence)}</td>"
            f'<td class="time">{result.duration_s * 1000:.0f} ms</td></tr>'
        )
    lines += ["</tbody>", "</table>", "</section>"]
    return lines


def _evidence(evidence: Mapping[str, Any]) -> str:
    if not evidence:
        return ""
    return f"<details><summary>Evidence</summary>{_definition_list(evidence)}</details>"


def _definition_list(values: Mapping[str, Any]) -> str:
    items = []
    for key, value in values.items():
        if isinstance(value, str) and "\n" in value:
            shown = f"<pre>{_e(value.rstrip())}</pre>"
        elif isinstance(value, str):
            shown = _e(value)
        else:
            shown = f"<code>{_e(json.dumps(value, default=str))}</code>"
        items.append(f"<dt>{_e(key)}</dt><dd>{shown}</dd>")
    return "<dl>" + "".join(items) + "</dl>"


def _paths(report: Report) -> list[str]:
    traces = [r for r in report.results if r.check_id.startswith("trace-")]
    drawn = [(r, trace_hops(r.evidence)) for r in traces]
    drawn = [(r, hops) for r, hops in drawn if hops]
    if not drawn:
        return []
    lines = ['<section id="paths">', "<h2>Path to the target</h2>"]
    for result, hops in drawn:
        lines.append(f"<h3>{_e(result.check_id)}: {_e(result.finding)}</h3>")
        lines.append(_path(result, hops, report.target))
    lines.append("</section>")
    return lines


def _path(result: CheckResult, hops: Sequence[Hop], target: str) -> str:
    source = result.evidence.get("source") or result.evidence.get("local_address") or "this VM"
    nodes = [f'<li class="node src"><b>from</b>{_e(source)}</li>']
    reached = False
    for hop in hops:
        if hop.address is None:
            nodes.append(f'<li class="node lost"><b>hop {hop.ttl}</b>no answer (* * *)</li>')
            continue
        reached = hop.address == target
        rtt = f"<br>{min(hop.rtts_ms):.1f} ms" if hop.rtts_ms else ""
        kind = "hit" if reached else "mid"
        nodes.append(f'<li class="node {kind}"><b>hop {hop.ttl}</b>{_e(hop.address)}{rtt}</li>')
    if not reached:
        nodes.append(f'<li class="node miss"><b>target</b>{_e(target)} not reached</li>')
    arrow = '<li class="arrow" aria-hidden="true">&rarr;</li>'
    return '<ol class="path">' + arrow.join(nodes) + "</ol>"


def _facts(report: Report) -> list[str]:
    started = datetime.fromtimestamp(report.started_at, timezone.utc).isoformat()
    facts = {"target": report.target, "started": started, **report.facts}
    facts["duration_s"] = round(report.duration_s, 3)
    return [
        '<details id="facts"><summary>Facts</summary>',
        _definition_list(facts),
        "</details>",
    ]
