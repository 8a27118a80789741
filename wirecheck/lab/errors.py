"""The lab's one error: something the lab needs is missing or a build step failed."""

from wirecheck.errors import WirecheckError


class LabError(WirecheckError):
    """The message names what failed, the value and what to do; the CLI prints it on one line."""
