"""The watch as one self-contained HTML page: a timeline per probe, then each failure
window with its evidence. Pure.

Each probe gets an inline SVG: time left to right, latency (log scale) bottom to top, the
band from the lowest to the highest latency of the ok rounds in each stretch of time with
the mean drawn through it, a red tick strip under it where rounds failed, and the failure
windows as red bands across it. A window's band is a link to that window's evidence
further down the page (a plain fragment link: no script). The Content-Security-Policy
allows nothing but the page's own stylesheet, so nothing is ever fetched.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from wirecheck.report.junit import xml_safe
from wirecheck.watch.record import WatchRecord
from wirecheck.watch.summary import span, summary_data, summary_line, utc
from wirecheck.watch.timeline import Bin

WIDTH, HEIGHT = 960, 150
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 10, 34
STRIP = 6  # the failed-rounds strip under the plot

CSS = """\
:root{--ok:#1a7f37;--fail:#cf222e;--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;
--soft:#f6f8fa;--band:#9ec5fe;--mean:#0a58ca}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--ink);background:#fff}
main{max-width:1020px;margin:0 auto;padding:0 16px 32px}
h2{font-size:1.15rem;margin:28px 0 10px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:1rem;margin:18px 0 4px}
code,pre{font:13px/1.4 ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace}
pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0;background:var(--soft);
padding:6px 8px;border-radius:4px}
.banner{color:#fff;padding:18px 0}
.banner .inner{max-width:1020px;margin:0 auto;padding:0 16px}
.banner h1{margin:0;font-size:2rem;letter-spacing:.04em}
.banner p{margin:4px 0 0}
.v-ok{background:var(--ok)}.v-fail{background:var(--fail)}.v-unknown{background:var(--muted)}
.meta{opacity:.92;font-size:.9rem}
table{border-collapse:collapse;width:100%}
th,td{text-align:right;padding:6px 8px;border-bottom:1px solid var(--line)}
th:first-child,td:first-child{text-align:left}
.rules td:nth-child(2),.rules th:nth-child(2),.rules td:nth-child(3),.rules th:nth-child(3){
text-align:left}
th{background:var(--soft);font-size:.85rem;color:var(--muted)}
td.bad{color:var(--fail);font-weight:600}
svg.timeline{width:100%;height:auto;display:block;margin:4px 0 14px}
.axis{stroke:var(--line);stroke-width:1}
.grid{stroke:var(--line);stroke-width:1;stroke-dasharray:2 3}
.tick{fill:var(--muted);font-size:11px}
.band{fill:var(--band)}
.mean{fill:none;stroke:var(--mean);stroke-width:1.5}
.failed{fill:var(--fail)}
.win{fill:var(--fail);opacity:.22}
.win:hover{opacity:.4}
.other{fill:var(--muted);opacity:.12}
.window{border:1px solid var(--line);border-radius:6px;padding:4px 14px 10px;margin:14px 0}
.window:target{outline:3px solid var(--fail)}
.cause{font-weight:600}
.fix{color:#0a3069}
.fix::before{content:"Fix: ";font-weight:600}
details{margin-top:6px}
summary{cursor:pointer;color:var(--muted)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.legend{color:var(--muted);font-size:.85rem}
.key{display:inline-block;width:12px;height:10px;margin:0 4px 0 10px;vertical-align:-1px}
.key.band{background:var(--band)}.key.mean{background:var(--mean)}
.key.failed{background:var(--fail)}.key.win{background:var(--fail);opacity:.35}
footer{color:var(--muted);font-size:.8rem;margin-top:32px}
@media print{*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
details::details-content{display:block;content-visibility:visible}.window{break-inside:avoid}}
"""


def _csp(css: str) -> str:
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"


def _e(value: object) -> str:
    return html.escape(xml_safe(str(value)), quote=True)


def render_watch_html(record: WatchRecord, event_log: str | None = None) -> str:
    data = summary_data(record, event_log)
    status = str(data["status"])
    host = f" on {data['host']}" if data["host"] else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(_csp(CSS))}">',
        '<meta name="referrer" content="no-referrer">',
        f'<meta name="generator" content="wirecheck {_e(data["version"])}">',
        f"<title>wirecheck watch {status.upper()}: {_e(data['target'])}{_e(host)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f'<header class="banner v-{status}"><div class="inner">',
        f'<h1 id="verdict">{status.upper()}</h1>',
        f"<p>{_e(summary_line(data))}</p>",
        f'<p class="meta">target {_e(data["target"])}{_e(host)} &middot; '
        f"{_e(utc(data['started_at'], True))} to {_e(utc(data['ended_at'], True))} UTC "
        f"({_e(span(data['duration_s']))}) &middot; {data['rounds']} rounds, one every "
        f"{data['interval_s']:g} s</p>",
        "</div></header>",
        "<main>",
        *_availability(data),
        *_timelines(record, data),
        *_windows(data),
        f"<footer>wirecheck {_e(data['version'])} &middot; exit code {data['exit_code']} "
        f"&middot; ended: {_e(data['stop_reason'])}"
        + (f" &middot; event log {_e(event_log)}" if event_log else "")
        + "</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _availability(data: Mapping[str, Any]) -> list[str]:
    rows = [
        '<section id="availability">',
        "<h2>Availability and latency</h2>",
        "<table>",
        "<thead><tr><th>Probe</th><th>Rounds</th><th>Not ok</th><th>Available</th>"
        "<th>p50</th><th>p95</th><th>p99</th><th>max</th></tr></thead>",
        "<tbody>",
    ]
    for probe, entry in data["probes"].items():
        latency = entry["latency_ms"]
        share = entry["availability"]
        bad = ' class="bad"' if entry["not_ok"] else ""
        shown = "-" if share is None else f"{share * 100:.3f} %"
        cells = "".join(f"<td>{_ms(latency[k])}</td>" for k in ("p50", "p95", "p99", "max"))
        rows.append(
            f'<tr id="probe-{_e(probe)}"><td><code>{_e(probe)}</code></td>'
            f"<td>{entry['rounds']}</td><td{bad}>{entry['not_ok']}</td><td{bad}>{shown}</td>"
            f"{cells}</tr>"
        )
    rows += ["</tbody>", "</table>", "</section>"]
    return rows


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"


def _timelines(record: WatchRecord, data: Mapping[str, Any]) -> list[str]:
    lines = [
        '<section id="timelines">',
        "<h2>Timeline</h2>",
        '<p class="legend">latency of the ok rounds (log scale):'
        '<span class="key band"></span>lowest to highest'
        '<span class="key mean"></span>mean'
        '<span class="key failed"></span>rounds not ok'
        '<span class="key win"></span>failure window (click for its evidence)</p>',
    ]
    start = float(data["started_at"])
    end = max(float(data["ended_at"]), start + record.interval_s)
    windows: Sequence[Mapping[str, Any]] = data["windows"]
    for index, probe in enumerate(record.probes):
        lines.append(f'<h3 id="timeline-{_e(probe)}"><code>{_e(probe)}</code></h3>')
        lines.append(svg_timeline(probe, record.timeline.bins(index), start, end, windows))
    lines.append("</section>")
    return lines


def _latency_range(bins: Sequence[Bin]) -> tuple[float, float]:
    """Whole decades around the latencies seen (1 ms to 10 ms when none)."""
    lows = [b.low_s for b in bins if b.low_s is not None]
    highs = [b.high_s for b in bins if b.high_s is not None]
    if not lows or not highs:
        return 1e-3, 1e-2
    low = 10 ** math.floor(math.log10(max(min(lows), 1e-6)))
    high = 10 ** math.ceil(math.log10(max(max(highs), 1e-6)))
    if high <= low:
        high = low * 10
    return low, high


def _decade_label(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:g} s"
    ms = seconds * 1000
    return f"{ms:g} ms" if ms >= 0.01 else f"{ms:.0e} ms"


def svg_timeline(
    probe: str,
    bins: Sequence[Bin],
    start: float,
    end: float,
    windows: Sequence[Mapping[str, Any]],
) -> str:
    """One probe's timeline; `start`/`end` and the windows' times are unix times."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM - STRIP - 2
    base = TOP + plot_h
    total = max(end - start, 1e-9)

    def x(at: float) -> float:
        return LEFT + min(max((at - start) / total, 0.0), 1.0) * plot_w

    low, high = _latency_range(bins)
    decades = math.log10(high) - math.log10(low)

    def y(seconds: float) -> float:
        value = min(max(seconds, low), high)
        return base - (math.log10(value) - math.log10(low)) / decades * plot_h

    out = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{_e(probe)}: latency and failures over time" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    for step in range(round(decades) + 1):
        value = low * 10**step
        out.append(
            f'<line class="grid" x1="{LEFT}" y1="{y(value):.1f}" x2="{WIDTH - RIGHT}" '
            f'y2="{y(value):.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">'
            f"{_e(_decade_label(value))}</text>"
        )
    for window in windows:
        out.append(_window_band(window, probe, x, end))
    mean_points: list[str] = []
    paths: list[str] = []
    for item in bins:
        left, right = x(start + item.start_s), x(start + item.start_s + item.width_s)
        width = max(right - left, 0.8)
        if item.low_s is not None and item.high_s is not None and item.mean_s is not None:
            top, bottom = y(item.high_s), y(item.low_s)
            out.append(
                f'<rect class="band" x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" '
                f'height="{max(bottom - top, 1.0):.1f}"/>'
            )
            mean_points.append(f"{(left + right) / 2:.1f},{y(item.mean_s):.1f}")
        elif mean_points:
            paths.append(" ".join(mean_points))
            mean_points = []
        if item.down:
            share = item.down / item.rounds if item.rounds else 1.0
            out.append(
                f'<rect class="failed" x="{left:.1f}" y="{base + 2}" width="{width:.1f}" '
                f'height="{STRIP}" opacity="{0.35 + 0.65 * share:.2f}">'
                f"<title>{item.down} of {item.rounds} round(s) not ok</title></rect>"
            )
    if mean_points:
        paths.append(" ".join(mean_points))
    out += [f'<polyline class="mean" points="{points}"/>' for points in paths]
    axis_y = base + STRIP + 3
    out.append(f'<line class="axis" x1="{LEFT}" y1="{axis_y}" x2="{WIDTH - RIGHT}" y2="{axis_y}"/>')
    for tick in range(6):
        at = start + total * tick / 5
        anchor = "start" if tick == 0 else "end" if tick == 5 else "middle"
        out.append(
            f'<text class="tick" x="{x(at):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
            f"{_e(utc(at)[:8])}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _window_band(window: Mapping[str, Any], probe: str, x: Any, end: float) -> str:
    started = float(window["start"])
    stopped = float(window["end"]) if window.get("end") is not None else end
    left, right = x(started), x(stopped)
    mine = probe in window.get("probes", ())
    label = (
        f"window {window['number']}: {utc(started)} to "
        f"{utc(stopped) if window.get('end') is not None else 'the end'} UTC, "
        f"{', '.join(window.get('probes', ()))}"
    )
    cause = (window.get("first_cause") or {}).get("summary")
    if cause:
        label += f": {cause}"
    rect = (
        f'<rect class="{"win" if mine else "other"}" x="{left:.1f}" y="{TOP}" '
        f'width="{max(right - left, 2.0):.1f}" height="{HEIGHT - TOP - BOTTOM}">'
        f"<title>{_e(label)}</title></rect>"
    )
    return f'<a href="#window-{window["number"]}">{rect}</a>'


def _windows(data: Mapping[str, Any]) -> list[str]:
    total, shown = data["windows_total"], data["windows_shown"]
    lines = ['<section id="windows">', "<h2>Failure windows</h2>"]
    if not total:
        lines += ["<p>None: every probe was ok in every round.</p>", "</section>"]
        return lines
    more = f"; the last {shown} are shown, all are in the event log" if shown < total else ""
    lines.append(
        f"<p>{total} window(s), {_e(span(data['down_s']))} in all "
        f"({data['down_percent']:.2f} % of the time){_e(more)}.</p>"
    )
    for window in data["windows"]:
        lines += _window(window)
    lines.append("</section>")
    return lines


def _window(window: Mapping[str, Any]) -> list[str]:
    number = window["number"]
    end = window["end"]
    until = f" to {utc(end)} UTC" if end is not None else ", still failing at the end"
    lines = [
        f'<section class="window" id="window-{number}">',
        f"<h3>Window {number}: {_e(utc(window['start']))} UTC{_e(until)} "
        f"({_e(span(window['duration_s']))}): {_e(', '.join(window['probes']))}</h3>",
        "<ul>",
        *(
            f"<li><code>{_e(p)}</code>: {_e(finding)}</li>"
            for p, finding in window["findings"].items()
        ),
        "</ul>",
    ]
    cause = window.get("first_cause")
    if cause:
        lines += [
            f'<p class="cause">First cause: {_e(cause["summary"])}</p>',
            f'<p class="fix">{_e(cause["fix"])}</p>',
        ]
    for capture in window.get("captures") or []:
        lines += _capture(capture)
    lines.append('<p><a href="#timelines">back to the timelines</a></p>')
    lines.append("</section>")
    return lines


def _capture(capture: Mapping[str, Any]) -> list[str]:
    label = "when it broke" if capture.get("kind") == "down" else "when it came back"
    lines = [
        "<details>",
        f"<summary>Evidence {label}: {_e(utc(capture['at']))} UTC, taken in "
        f"{capture.get('took_s', 0):.2f} s</summary>",
    ]
    firewall = capture.get("firewall") or {}
    if "skipped" in firewall:
        lines.append(f"<p>Firewall: not read ({_e(firewall['skipped'])}).</p>")
    else:
        lines.append(
            f"<p>Firewall ({_e(firewall.get('counters', ''))}): "
            f"<b>{_e(firewall.get('status', ''))}</b> {_e(firewall.get('finding', ''))}</p>"
        )
        rules = firewall.get("rules") or []
        if rules:
            lines.append(
                '<table class="rules"><thead><tr><th>Rule</th><th>Chain</th><th>Verdict</th>'
                "<th>Packets before</th><th>Packets after</th></tr></thead><tbody>"
            )
            for rule in rules:
                lines.append(
                    f"<tr><td><code>{_e(rule['rule'])}</code></td>"
                    f"<td>{_e(rule['table'])}/{_e(rule['chain'])}</td>"
                    f"<td>{_e(rule['verdict'])}</td><td>{_e(_before(rule))}</td>"
                    f"<td>{_e(_count(rule['packets_after']))}</td></tr>"
                )
            lines.append("</tbody></table>")
    for trace in capture.get("traces") or []:
        lines.append(
            f"<p>{_e(trace['id'])}: <b>{_e(trace['status'])}</b> {_e(trace['finding'])}</p>"
        )
        if trace.get("traceroute"):
            lines.append(f"<pre>{_e(str(trace['traceroute']).rstrip())}</pre>")
    facts: dict[str, Any] = {}
    path = capture.get("path") or {}
    for key in ("route", "neighbour", "note"):
        if path.get(key):
            facts[key if key != "note" else "path"] = path[key]
    conntrack = capture.get("conntrack") or {}
    facts["conntrack"] = (
        f"{conntrack['count']} of {conntrack['max']} ({conntrack.get('used_percent')} %)"
        if "count" in conntrack
        else conntrack.get("note", "")
    )
    log = capture.get("agent_log") or {}
    facts["agent log"] = (
        f"{log.get('path')}: {len(log['lines'])} new line(s)"
        if "lines" in log
        else f"{log.get('path', '')}: {log.get('note', '')}"
    )
    if capture.get("notes"):
        facts["notes"] = "; ".join(capture["notes"])
    lines.append(_definition_list(facts))
    if log.get("lines"):
        lines.append("<pre>" + _e("\n".join(log["lines"])) + "</pre>")
    diagnosis = capture.get("diagnosis") or []
    if diagnosis:
        lines.append("<p>Diagnosis of this moment:</p><ol>")
        lines += [
            f'<li>{_e(item["summary"])}<br><span class="fix">{_e(item["fix"])}</span></li>'
            for item in diagnosis
        ]
        lines.append("</ol>")
    lines.append("</details>")
    return lines


def _before(rule: Mapping[str, Any]) -> str:
    if rule.get("there_before") is False:
        return "not there"
    return _count(rule.get("packets_before"))


def _count(value: object) -> str:
    return "-" if value is None else str(value)


def _definition_list(values: Mapping[str, Any]) -> str:
    items = []
    for key, value in values.items():
        shown = (
            _e(value)
            if isinstance(value, str)
            else f"<code>{_e(json.dumps(value, default=str))}</code>"
        )
        items.append(f"<dt>{_e(key)}</dt><dd>{shown}</dd>")
    return "<dl>" + "".join(items) + "</dl>"
