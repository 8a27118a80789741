"""Is this an Azure VM? wirecheck never probes the real platform from anywhere else."""

from __future__ import annotations

import sys
from collections.abc import Callable

# The SMBIOS chassis asset tag every Azure VM carries (Linux and Windows alike).
AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
LINUX_ASSET_TAG_PATH = "/sys/class/dmi/id/chassis_asset_tag"


def read_asset_tag() -> str | None:
    """The chassis asset tag, or None when it cannot be read here."""
    try:
        with open(LINUX_ASSET_TAG_PATH, encoding="ascii", errors="replace") as handle:
            return handle.read(256).strip()
    except OSError:
        return _windows_asset_tag()


def _windows_asset_tag() -> str | None:
    if sys.platform != "win32":
        return None
    import winreg  # pragma: no cover - Windows only

    try:  # pragma: no cover
        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\BIOS")
        value, _ = winreg.QueryValueEx(key, "ChassisAssetTag")
        return str(value).strip()
    except OSError:  # pragma: no cover
        return None


def is_azure_vm(read_tag: Callable[[], str | None] = read_asset_tag) -> bool:
    return read_tag() == AZURE_ASSET_TAG
