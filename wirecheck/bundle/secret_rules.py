"""The patterns that find secrets: values that grant access, in whatever form they come.

Each rule takes a text and a `token` function (kind, value -> token) and returns the text
with what it found replaced. Every pattern is linear in the length of the text: each starts
only at the start of a run of its characters (a lookbehind says so), and where a pattern
must look ahead inside a run it does so once per run, never once per position. Pure: no I/O.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from typing import Protocol

from wirecheck.bundle.name_rules import words
from wirecheck.bundle.tokens import TOKEN_PREFIX


class TokenFn(Protocol):
    """The token book's `token`: kind and value (and the spelling to compare by) -> token."""

    def __call__(self, kind: str, value: str, canonical: str | None = None) -> str: ...


# Word parts that make a setting, header, flag, query parameter or XML element a secret
# when its name holds one of them (`DB_PASS`, `Storage.Key`, `Ocp-Apim-Subscription-Key`,
# `x-ms-azure-host-authorization`, `<UserPassword>`). A part must stand as a word of the
# name: after a separator or a lower-to-upper case change, and before a separator, a digit,
# an upper-case letter (after a lower-case one) or a plural s: `Keyboard`, `bypass` and
# `TOKENIZER` are not secrets.
_SECRET_WORDS = (
    "pass(?:w(?:or)?d|phrase)?",
    "pwd",
    "secret",
    "key",
    "token",
    "credential",
    "signature",
    "psk",
    "pin",
    "cak",
    "authorization",
    "apikey",
    "authkey",
    "protected_?settings",
    "custom_?data",
    "user_?data",
)
SECRET_WORDS = "|".join(_SECRET_WORDS)
# The same words as a pattern that starts with a set of characters (their first letters),
# which the regex engine searches fast; the full word-part test follows at each hit.
_SECRET_HINT = re.compile(
    "["
    + "".join(sorted({w[0] + w[0].upper() for w in _SECRET_WORDS}))
    + "](?i:"
    + "|".join(w[1:] for w in _SECRET_WORDS)
    + ")"
)
_PART_START = r"(?:(?<![A-Za-z])|(?<=[a-z])(?=[A-Z]))"
_PART_END = r"[sS]?(?:(?<=[a-z])(?![a-z])|(?<=[A-Z])(?![A-Za-z]))"
# Not the kind in a token (`REDACTED-SECRET-1`): redacting twice changes nothing more.
SECRET_PART = rf"(?<!{TOKEN_PREFIX}){_PART_START}(?i:{SECRET_WORDS}){_PART_END}"
# Inside a name's run only: looked for once at the start of the run.
_SECRET_NAME = rf"(?=[\w.\-]*?{SECRET_PART})"

# A secret-named setting whose last word says what kind of value it holds, not the secret:
# `Provisioning.PasswordCryptId=6`, `SshHostKeyPairType=ed25519`, `OS.PasswordPath=...`.
HARMLESS_NAME_ENDINGS = words(
    "id type length path file dir directory interval period timeout count size mode format "
    "algorithm algo enabled enable expiry expires expiration version name url uri policy "
    "thumbprint fingerprint location store vault provider method source cmd command prompt "
    "min max age rotation mgmt management"
)
# Values of secret-named settings that are switches, placeholders, paths or nsswitch.conf
# sources (`passwd: files systemd`), not secrets.
HARMLESS_VALUE = re.compile(
    r"(?i)^(?:y|n|yes|no|true|false|on|off|none|null|nil|auto|required|optional|empty|unset"
    r"|not|missing|invalid|expired|present|absent|redacted|hidden|masked|\**|x{3,}|<[^>]*>"
    r"|/[\w./-]*|\$\{?\w+\}?|%\w+%|files|compat|systemd|sss|ldap|nis|winbind|db"
    r"|rsa|dsa|ecdsa|ed25519|\d{1,3})$"
)

# `NAME = value`, `"name": "value"`, `Header: value`: quoted values are taken whole (up to
# the closing quote on the same line), bare ones up to white space, a quote or `,;}<>`.
# _SETTING is the rule as one pattern; redact_settings does the same faster (a test holds
# the two equal).
_VALUE = (
    r"(?:\"(?P<dq>(?:\\.|[^\"\\\n])*)\"|'(?P<sq>[^'\n]*)'|(?P<bare>"
    r"(?:(?i:Bearer|Basic|Digest|Negotiate|SharedKey|SharedAccessSignature)[ \t]+)?"
    r"[^\s\"',;}<>\[{][^\s\"',;}<>]*))"
)
_SETTING = re.compile(
    r"(?<![\w.\-])" + _SECRET_NAME + r"(?P<key>[\w.\-]+)(?P<sep>[\"']?[ \t]*[=:][ \t]*)" + _VALUE
)
_SECRET_PART_AT = re.compile(SECRET_PART)
_NAME_RUN = re.compile(r"[\w.\-]*")
_SEP_VALUE = re.compile(r"(?P<sep>[\"']?[ \t]*[=:][ \t]*)" + _VALUE)
MAX_NAME = 200  # a setting's name is looked for this far back from its secret word
# `--account-key VALUE`, `--password 'VALUE'` on a logged command line.
_FLAG = re.compile(r"(?P<key>--(?<!\S--)" + _SECRET_NAME + r"[\w\-]+)(?P<sep>[ \t]+)(?!-)" + _VALUE)
# `?sig=...&`, `&api_key=...`, `;AccountKey=...;`: a query or connection-string parameter.
# (Each pattern starts with a character or a set of them, not a lookbehind: the regex
# engine searches for that first, which is several times faster on long texts.)
_PARAM = re.compile(
    r"(?P<key>[?&;](?:(?i:sig|code)|" + _SECRET_NAME + r"[\w.\-]+)=)"
    r"(?P<value>[^&;\s\"'<>#]+)"
)
# `<UserPassword>...</UserPassword>`, `<wa:CustomData>...</wa:CustomData>`.
_XML = re.compile(
    r"<(?P<tag>(?:[\w.\-]{1,40}:)?(?=[\w.\-]{0,80}?" + SECRET_PART + r")[\w.\-]{1,100})"
    r"(?P<attrs>\s[^<>]{0,2000})?>(?P<value>[^<]+)</(?P=tag)\s*>"
)
# `scheme://user:pass@host`: the password may hold `@` and `:`, not `/ ? #` (those end the
# authority, as in any URL); the credentials end at the last `@` in front of the host.
_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>://)(?P<cred>[^\s/?#\"'<>@:]*:[^\s/?#\"'<>]*)(?=@[\w\[])"
)
_JWT = re.compile(r"eyJ(?<![\w-]eyJ)[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*")
_BEARER = re.compile(r"(?P<scheme>[Bb](?<![\w-][Bb])(?i:earer)[ \t]+)(?P<value>[\w~+/.-]{16,}=*)")

# Private keys: the armor lines stay (support sees that a key was there), the body goes. A
# body is the run of base64 and header lines after BEGIN; without its END line (the file
# was cut, or the key was) the body still goes. `\n` written as two characters (a key in
# JSON) counts as a line break.
_KEY_LABEL = r"[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?"
_NL = r"(?:\r?\n|(?:\\r)?\\n)"
_KEY_HEADER = r"(?:Proc-Type|DEK-Info|Comment):"
_KEY_LINE = rf"(?:[A-Za-z0-9+/=]+|{_KEY_HEADER}[^\r\n\\]*)"
_KEY_BLOCK = re.compile(
    rf"(?P<begin>-----BEGIN (?P<label>{_KEY_LABEL})-----)"
    rf"(?P<body>(?:{_NL}(?![ \t]*-----)[ \t]*(?:{_KEY_LINE}[ \t]*)?(?={_NL}|$))*)"
    rf"(?P<end>{_NL}[ \t]*-----END (?P=label)-----)?"
)
_KEY_END = re.compile(rf"(?m)^[ \t]*-----END {_KEY_LABEL}-----")
_KEY_BODY_LINE = re.compile(rf"[ \t]*{_KEY_LINE}[ \t]*\r?")

# Long random-looking runs that no name announces: base64 (keys, signatures, tokens) and
# hex (thumbprints, GUIDs without dashes, API keys).
_BASE64_RUN = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{20,}(?:={1,2}(?![\w=]))?")
_HEX_RUN = re.compile(r"[0-9A-Fa-f](?<![A-Za-z0-9][0-9A-Fa-f])[0-9A-Fa-f]{31,}(?![A-Za-z0-9])")
MIN_BASE64 = 20
# Share of neighbouring characters of different classes (upper, lower, digit): about 0.64
# in random base64, under 0.4 in CamelCase names and paths. Entropy in bits per character:
# random base64 of 40 characters or more has over 4.3, English-like names about 4.
MIN_CLASS_CHANGES = 0.42
MIN_ENTROPY = 3.5
LONG_RUN = 40
LONG_MIN_CLASS_CHANGES = 0.3
LONG_ENTROPY = 4.3


def redact_secrets(text: str, token: TokenFn) -> str:
    """Every secret rule but private keys (`redact_key_blocks`, which needs whole lines),
    in the order that lets the most specific one decide."""
    if "://" in text:
        text = _URL_CREDENTIALS.sub(
            lambda m: m.group("scheme") + token("SECRET", m.group("cred")), text
        )
    if "eyJ" in text:
        text = _JWT.sub(lambda m: token("SECRET", m.group()), text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(lambda m: _bearer(m, token), text)
    if "=" in text:
        text = _PARAM.sub(lambda m: _param(m, token), text)
    if "</" in text:
        text = _XML.sub(lambda m: _xml(m, token), text)
    if "--" in text:
        text = _FLAG.sub(lambda m: _setting(m, token), text)
    return redact_settings(text, token)


def redact_settings(text: str, token: TokenFn) -> str:
    """What `_SETTING.sub` does, found faster: from each secret word (`_SECRET_HINT`) back
    to the start of its name and on to the separator and the value, left to right."""
    pieces: list[str] = []
    done = 0  # text[:done] is settled
    position = 0
    while True:
        hint = _SECRET_HINT.search(text, position)
        if hint is None:
            break
        at = hint.start()
        if not _SECRET_PART_AT.match(text, at):
            position = at + 1
            continue
        start = at
        while start > max(done, at - MAX_NAME) and _name_char(text[start - 1]):
            start -= 1
        end = run_end(_NAME_RUN, text, at)
        match = _SEP_VALUE.match(text, end)
        if match is None:
            position = end + 1
            continue
        value = _value_of(match)
        if value is not None and not harmless_setting(text[start:end], value):
            value_start, value_end = _value_span(match)
            pieces += [text[done:value_start], token("SECRET", value)]
            done = value_end
        position = match.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def run_end(run: re.Pattern[str], text: str, start: int) -> int:
    """Where a run of `run`'s characters that starts at `start` ends (`run` is `[...]*`)."""
    match = run.match(text, start)
    return start if match is None else match.end()


def _name_char(char: str) -> bool:
    return char.isalnum() or char in "_.-"


def redact_long_runs(text: str, token: TokenFn) -> str:
    """Long hex runs (GUIDs without dashes get the GUID's token) and random base64 runs."""
    text = _HEX_RUN.sub(lambda m: _hex(m.group(), token), text)
    return _BASE64_RUN.sub(lambda m: _base64(m.group(), token), text)


def redact_key_blocks(text: str, token: TokenFn) -> str:
    text = _KEY_BLOCK.sub(lambda m: _key_block(m, token), text)
    return _orphan_key_bodies(text, token)


def looks_random(run: str) -> bool:
    """Whether a base64-alphabet run looks like random data rather than a word or a path.

    Random base64 changes character class (upper, lower, digit) at about 64% of its
    neighbours and has a high entropy; CamelCase names and paths change class at under 40%.
    Long runs are judged by entropy as well, which a name of that length cannot reach.
    """
    core = run.rstrip("=")
    if len(core) < MIN_BASE64:
        return False
    classes = [_class_of(c) for c in core if c not in "+/"]
    counts = Counter(classes)
    if counts["upper"] < 2 or counts["lower"] < 2:
        return False
    if counts["digit"] < 1 and "+" not in core and "/" not in core:
        return False
    changes = sum(1 for i in range(1, len(classes)) if classes[i] != classes[i - 1])
    share = changes / max(1, len(classes) - 1)
    entropy = _entropy(core)
    if share >= MIN_CLASS_CHANGES and entropy >= MIN_ENTROPY:
        return True
    return len(core) >= LONG_RUN and share >= LONG_MIN_CLASS_CHANGES and entropy >= LONG_ENTROPY


def harmless_setting(key: str, value: str) -> bool:
    # A value that holds a token was redacted already (a private key's body inside it).
    if not value or TOKEN_PREFIX in value or HARMLESS_VALUE.match(value):
        return True
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", key)
    return bool(words) and words[-1].lower() in HARMLESS_NAME_ENDINGS


# -- one pattern each -------------------------------------------------------------------


def _setting(match: re.Match[str], token: TokenFn) -> str:
    value = _value_of(match)
    if value is None or harmless_setting(match.group("key"), value):
        return match.group()
    start, end = _value_span(match)
    whole = match.group()
    offset = match.start()
    return whole[: start - offset] + token("SECRET", value) + whole[end - offset :]


def _value_of(match: re.Match[str]) -> str | None:
    for group in ("dq", "sq", "bare"):
        if match.group(group) is not None:
            return match.group(group)
    return None


def _value_span(match: re.Match[str]) -> tuple[int, int]:
    for group in ("dq", "sq", "bare"):
        if match.group(group) is not None:
            return match.span(group)
    return match.end(), match.end()


@functools.lru_cache(maxsize=1 << 14)
def _looks_random_cached(run: str) -> bool:
    return looks_random(run)


def _param(match: re.Match[str], token: TokenFn) -> str:
    value = match.group("value")
    if value.startswith(TOKEN_PREFIX) or HARMLESS_VALUE.match(value):
        return match.group()
    return match.group("key") + token("SECRET", value)


def _xml(match: re.Match[str], token: TokenFn) -> str:
    value = match.group("value")
    if not value.strip() or harmless_setting(match.group("tag").split(":")[-1], value.strip()):
        return match.group()
    tag = match.group("tag")
    return f"<{tag}{match.group('attrs') or ''}>{token('SECRET', value)}</{tag}>"


def _bearer(match: re.Match[str], token: TokenFn) -> str:
    value = match.group("value")
    if value.startswith(TOKEN_PREFIX) or value.isalpha():
        return match.group()  # `Bearer authentication` in a sentence
    return match.group("scheme") + token("SECRET", value)


def _key_block(match: re.Match[str], token: TokenFn) -> str:
    body = match.group("body")
    if not re.sub(r"\\[rn]|\s", "", body):
        return match.group()  # an armor line alone: nothing to hide
    newline = "\\n" if body.startswith("\\") else "\r\n" if body.startswith("\r") else "\n"
    end = match.group("end")
    tail = f"{newline}-----END {match.group('label')}-----" if end else ""
    return f"{match.group('begin')}{newline}{token('SECRET', body.strip())}{tail}"


def _orphan_key_bodies(text: str, token: TokenFn) -> str:
    """Base64 lines right above an END line whose BEGIN is not there (cut off above)."""
    pieces: list[str] = []
    done = 0  # text[:done] is settled
    for match in _KEY_END.finditer(text):
        end_line = match.start()  # a line start, so text[end_line - 1] is a line break
        first = end_line
        while first > done:
            above = text.rfind("\n", 0, first - 1) + 1
            line = text[above : first - 1]
            if above < done or not line.strip() or not _KEY_BODY_LINE.fullmatch(line):
                break
            first = above
        if first < end_line:
            pieces += [text[done:first], token("SECRET", text[first:end_line].strip()), "\n"]
            done = end_line
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _hex(run: str, token: TokenFn) -> str:
    if run.isdigit() or run.isalpha():
        return run
    if len(run) == 32:  # a GUID written without dashes: the same token as with them
        lower = run.lower()
        guid = f"{lower[:8]}-{lower[8:12]}-{lower[12:16]}-{lower[16:20]}-{lower[20:]}"
        return token("GUID", run, guid)
    return token("ID", run)


def _base64(run: str, token: TokenFn) -> str:
    # Logs repeat the same names and paths: each is judged once.
    return token("SECRET", run) if _looks_random_cached(run) else run


def _class_of(char: str) -> str:
    if char.isupper():
        return "upper"
    if char.islower():
        return "lower"
    if char.isdigit():
        return "digit"
    return "symbol"


def _entropy(text: str) -> float:
    counts = Counter(text)
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in counts.values())
