"""The one exception tree. Library errors are translated into these once, at the boundary."""


class WirecheckError(Exception):
    """Base of everything wirecheck raises on purpose."""


class UsageError(WirecheckError):
    """The user asked for something that cannot be done as asked (bad option value, no root)."""


class ParseError(WirecheckError):
    """Input text or bytes did not have the expected format; the message names what and why."""
