"""`wirecheck bundle` takes watch's event log and summary along, redacted, when they exist."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_bundle import PUBLIC_IP, LabMachine, _bundle, _files
from wirecheck.bundle.build import default_items
from wirecheck.bundle.items import WATCH_DIR, WATCH_FILES, DirItem

LOG = "wirecheck-watch_168-63-129-16.jsonl"


def test_the_event_log_and_summary_are_collected_and_redacted(tmp_path: Path) -> None:
    machine = LabMachine()
    round_line = {"event": "round", "n": 1, "probes": {"tcp-80": ["ok", 0.4]}}
    machine.files[f"{WATCH_DIR}/{LOG}"] = (
        json.dumps({"event": "start", "host": "lab-vm1", "public": PUBLIC_IP})
        + "\n"
        + json.dumps(round_line)
        + "\n"
    )
    machine.files[f"{WATCH_DIR}/wirecheck-watch_168-63-129-16.json"] = '{"rounds": 1}\n'
    machine.dirs[WATCH_DIR] = [LOG, "wirecheck-watch_168-63-129-16.json", "other.txt"]
    files = _files(_bundle(tmp_path, machine))
    log = files[f"files{WATCH_DIR}/{LOG}"]
    assert '"event":"round"' in log.replace(" ", "")
    assert PUBLIC_IP not in log and "lab-vm1" not in log
    assert f"files{WATCH_DIR}/wirecheck-watch_168-63-129-16.json" in files
    assert f"files{WATCH_DIR}/other.txt" not in files
    manifest = json.loads(files["manifest.json"])
    sources = [item["source"] for item in manifest["items"]]
    assert any(source.endswith(LOG) for source in sources)


def test_no_watch_files_is_a_skipped_item_not_an_error(tmp_path: Path) -> None:
    files = _files(_bundle(tmp_path, LabMachine()))
    manifest = json.loads(files["manifest.json"])
    watched = [item for item in manifest["items"] if item["source"] == WATCH_DIR]
    assert watched and "not present" in watched[0]["skipped"]


def test_the_current_directory_is_looked_in_too(tmp_path: Path) -> None:
    items = default_items("168.63.129.16", "linux", cwd=str(tmp_path))
    assert DirItem(str(tmp_path), WATCH_FILES, tail=True) in items
    assert DirItem(WATCH_DIR, WATCH_FILES, tail=True) in items
    assert (
        len(
            [
                i
                for i in default_items("x", "linux", cwd=WATCH_DIR)
                if i == DirItem(WATCH_DIR, WATCH_FILES, tail=True)
            ]
        )
        == 1
    )
