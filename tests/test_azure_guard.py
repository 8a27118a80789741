"""Is this an Azure VM? Fed through read_tag, never through the real DMI file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wirecheck.platform import azure
from wirecheck.platform.azure import AZURE_ASSET_TAG, is_azure_vm


@pytest.mark.parametrize(
    ("tag", "azure_vm"),
    [
        (AZURE_ASSET_TAG, True),
        ("7783-7084-3265-9085-8269-3286-77", True),
        (None, False),  # cannot read it here (no DMI, a container, macOS)
        ("", False),
        ("No Asset Tag", False),
        ("Default string", False),
        ("7783-7084-3265-9085-8269-3286-78", False),
        ("7783-7084-3265-9085-8269-3286-77 extra", False),
    ],
)
def test_is_azure_vm(tag: str | None, azure_vm: bool) -> None:
    assert is_azure_vm(read_tag=lambda: tag) is azure_vm


def test_read_asset_tag_strips_the_newline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chassis_asset_tag"
    path.write_text(AZURE_ASSET_TAG + "\n")
    monkeypatch.setattr(azure, "LINUX_ASSET_TAG_PATH", str(path))
    assert azure.read_asset_tag() == AZURE_ASSET_TAG


def test_read_asset_tag_missing_file_is_none_off_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(azure, "LINUX_ASSET_TAG_PATH", str(tmp_path / "absent"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert azure.read_asset_tag() is None
