"""Is uid 0 here uid 0 to the kernel? Inside a user namespace (rootless containers,
`unshare --user --map-root-user`) a process is root only to that namespace: its sockets
belong to the uid it maps to outside, and `--uid-owner 0` rules do not match them. Pure
parsing of /proc/self/uid_map; `root_outside` reads it through `System`."""

from __future__ import annotations

from wirecheck.system import System

UID_MAP = "/proc/self/uid_map"
# The identity map of the initial user namespace.
INITIAL_NAMESPACE = (0, 0, 4294967295)


def outside_uid_of_root(text: str) -> int | None:
    """The uid that uid 0 maps to outside this namespace (lines: inside outside count);
    None when uid 0 is not mapped at all."""
    for line in text.splitlines():
        words = line.split()
        if len(words) != 3 or not all(w.isdigit() for w in words):
            continue
        inside, outside, count = (int(w) for w in words)
        if inside <= 0 < inside + count:
            return outside + (0 - inside)
    return None


def is_initial_namespace(text: str) -> bool:
    return [tuple(int(w) for w in line.split()) for line in text.splitlines() if line.strip()] == [
        INITIAL_NAMESPACE
    ]


def root_outside(system: System) -> tuple[bool, str]:
    """(this root process is root to the kernel's owner matches, a note when it is not).

    Only meaningful for a process whose effective uid is 0. Where uid_map cannot be read
    (not Linux, no /proc), the initial namespace is assumed.
    """
    try:
        text = system.read_text(UID_MAP)
    except OSError:
        return True, ""
    if not text.strip() or is_initial_namespace(text):
        return True, ""
    outside = outside_uid_of_root(text)
    if outside == 0:
        return True, ""
    shown = " ".join(text.split())
    who = f"uid {outside}" if outside is not None else "an unmapped uid"
    return False, (
        f"uid 0 here is {who} outside this user namespace ({UID_MAP}: {shown}): rules that "
        "match uid 0 (the guest agent's) do not match this process"
    )
