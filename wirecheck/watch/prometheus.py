"""The watch's Prometheus textfile, rewritten (atomically) after every round.

node_exporter's textfile collector reads `*.prom` files from its directory. Per probe:
whether the last round was up, rounds and failures as counters, availability since the
watch started, and a latency histogram of the rounds that were up. For the watch: failure
windows so far, whether one is open, the interval and the last round's time. Every series
carries `target`, as `wirecheck run --format prometheus` does; the names differ from
run's (`wirecheck_watch_*`), so both can share the directory. No sample timestamps
(node_exporter refuses files with them). Pure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from wirecheck.report.prometheus import escape_label
from wirecheck.watch.record import WatchRecord

# node_exporter runs as its own user and must read the file; it holds probe ids, counts,
# latencies and the target, no host facts.
PROMETHEUS_MODE = 0o644

_FAMILIES = (
    ("wirecheck_watch_probe_up", "gauge", "1 when the probe's last round was ok, else 0."),
    ("wirecheck_watch_probe_rounds_total", "counter", "Rounds in which the probe ran."),
    ("wirecheck_watch_probe_failures_total", "counter", "Rounds in which the probe was not ok."),
    (
        "wirecheck_watch_probe_availability_ratio",
        "gauge",
        "Share of the probe's rounds that were ok since the watch started.",
    ),
    (
        "wirecheck_watch_probe_latency_seconds",
        "histogram",
        "Latency of the probe's ok rounds.",
    ),
    (
        "wirecheck_watch_failure_windows_total",
        "counter",
        "Failure windows since the watch started.",
    ),
    ("wirecheck_watch_in_failure_window", "gauge", "1 while some probe is failing, else 0."),
    ("wirecheck_watch_interval_seconds", "gauge", "Seconds between the starts of two rounds."),
    (
        "wirecheck_watch_last_round_timestamp_seconds",
        "gauge",
        "Unix time at which the last round started.",
    ),
)


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{name}="{escape_label(value)}"' for name, value in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(float(value))


def render_watch_prometheus(record: WatchRecord) -> str:
    target = ("target", record.target)
    samples: dict[str, list[str]] = {name: [] for name, _, _ in _FAMILIES}
    for probe, stats in record.stats.items():
        labels = [("probe", probe), target]
        if stats.rounds:
            samples["wirecheck_watch_probe_up"].append(
                f"wirecheck_watch_probe_up{_labels(labels)} {1 if stats.last_status == 'ok' else 0}"
            )
        samples["wirecheck_watch_probe_rounds_total"].append(
            f"wirecheck_watch_probe_rounds_total{_labels(labels)} {stats.up + stats.down}"
        )
        samples["wirecheck_watch_probe_failures_total"].append(
            f"wirecheck_watch_probe_failures_total{_labels(labels)} {stats.down}"
        )
        if stats.availability is not None:
            samples["wirecheck_watch_probe_availability_ratio"].append(
                f"wirecheck_watch_probe_availability_ratio{_labels(labels)} "
                f"{_number(round(stats.availability, 6))}"
            )
        histogram = samples["wirecheck_watch_probe_latency_seconds"]
        for bound, count in stats.cumulative_buckets():
            histogram.append(
                f"wirecheck_watch_probe_latency_seconds_bucket"
                f"{_labels([*labels, ('le', _bound(bound))])} {count}"
            )
        histogram.append(
            f"wirecheck_watch_probe_latency_seconds_sum{_labels(labels)} "
            f"{_number(round(stats.latency.total, 6))}"
        )
        histogram.append(
            f"wirecheck_watch_probe_latency_seconds_count{_labels(labels)} {stats.latency.count}"
        )
    windows = record.windows
    samples["wirecheck_watch_failure_windows_total"].append(
        f"wirecheck_watch_failure_windows_total{_labels([target])} {windows.total}"
    )
    samples["wirecheck_watch_in_failure_window"].append(
        f"wirecheck_watch_in_failure_window{_labels([target])} "
        f"{1 if windows.current is not None else 0}"
    )
    samples["wirecheck_watch_interval_seconds"].append(
        f"wirecheck_watch_interval_seconds{_labels([target])} {_number(record.interval_s)}"
    )
    if record.last_round_at is not None:
        samples["wirecheck_watch_last_round_timestamp_seconds"].append(
            f"wirecheck_watch_last_round_timestamp_seconds{_labels([target])} "
            f"{_number(round(record.last_round_at, 3))}"
        )
    lines: list[str] = []
    for name, kind, help_text in _FAMILIES:
        if not samples[name]:
            continue
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(lines) + "\n"
