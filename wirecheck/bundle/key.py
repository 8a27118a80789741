"""The local key: which original value each token in a redacted bundle stands for.

Written beside the archive, never inside it, so the admin can answer support's questions
("which storage account is REDACTED-NAME-2?") without sending the values. Mode 0600 and
atomic, like the archive. Secrets are listed without their value: the admin has them
where they were found, and a second copy beside the archive would be one more to leak.
"""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from wirecheck.bundle.archive import write_private
from wirecheck.bundle.tokens import TokenBook

KEY_SCHEMA_VERSION = 1
KEY_SUFFIX = ".redaction-key.json"


def key_path_for(archive: Path) -> Path:
    """`/x/bundle.tar.gz` -> `/x/bundle.redaction-key.json`."""
    name = archive.name
    for suffix in (".tar.gz", ".tgz", ".zip"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return archive.with_name(name + KEY_SUFFIX)


def key_document(book: TokenBook, archive: Path, created: float) -> dict[str, Any]:
    values, secrets = book.key()
    return {
        "schema_version": KEY_SCHEMA_VERSION,
        "about": (
            "wirecheck's redaction key: the original value behind each token in the archive "
            "named below. Keep it on this machine; do not send it with the bundle. Secrets "
            "are not written here, only where each was found."
        ),
        "archive": archive.name,
        "created_at": datetime.fromtimestamp(created, timezone.utc).isoformat(),
        "tokens": values,
        "secrets": secrets,
    }


def write_key(book: TokenBook, archive: Path, created: float) -> Path:
    """Write the key for `archive` beside it; returns its path."""
    data = (json.dumps(key_document(book, archive, created), indent=2) + "\n").encode("utf-8")

    def write(raw: io.BufferedWriter) -> None:
        raw.write(data)

    return write_private(key_path_for(archive), write)
