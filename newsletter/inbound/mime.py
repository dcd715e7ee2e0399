"""Generic MIME helpers for inbound mail: walk the parts, decode a part's text, read a header.

Nothing here knows about bounces, complaints or replies; `reports.py` (failure and abuse
reports) and `reply_text.py` (what a person wrote) build on it. Every function takes a parsed
`email.message.Message` and never raises on malformed input.
"""

from __future__ import annotations

from email import policy
from email.message import Message

MAX_TEXT_CHARS = 200_000  # of a body part, decoded


def parts(message: Message) -> list[tuple[Message, str]]:
    """Every MIME part with its content type, computed once per message.

    policy.default parses a Content-Type header anew on every access, which made that the
    classifier's main cost; the list is kept on the message object itself.
    """
    cached = getattr(message, "_newsletter_parts", None)
    if cached is None:
        cached = [(part, part.get_content_type()) for part in message.walk()]
        message._newsletter_parts = cached
    return cached


def find_parts(message: Message, content_type: str) -> list[Message]:
    """All MIME parts of one content type, in order."""
    return [part for part, kind in parts(message) if kind == content_type]


def decoded_text(part: Message) -> str:
    """The text of one part; unknown charsets decode as UTF-8, then Latin-1, never raising."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")[:MAX_TEXT_CHARS]
    payload = payload[:MAX_TEXT_CHARS * 4]
    charset = str(part.get_content_charset() or "utf-8")
    for candidate in (charset, "utf-8", "latin-1"):
        try:
            return payload.decode(candidate)[:MAX_TEXT_CHARS]
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("latin-1")[:MAX_TEXT_CHARS]  # pragma: no cover - latin-1 never fails


# The MIME structure is parsed with policy.compat32, and the few headers we read are decoded
# with policy.default's header registry (RFC 2047 words, 8-bit bytes, address lists). Parsing
# everything with policy.default re-parses every Content-Type header on each access and
# alone held the classifier under 800 messages per second.
def header(message: Message, name: str) -> str:
    """A header decoded by policy.default, '' when absent or unreadable.

    >>> from email import message_from_bytes
    >>> header(message_from_bytes(b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\\n\\n"), "subject")
    'Grüße'
    """
    values = all_headers(message, name)
    return " ".join(values[0].split()) if values else ""


def all_headers(message: Message, name: str) -> list[str]:
    """Every value of a header, each decoded as `header` does (raw text if undecodable)."""
    found = []
    for key, raw in _by_name(message).get(name.lower(), ()):
        try:
            found.append(str(policy.default.header_fetch_parse(key, raw)))
        except Exception:  # noqa: BLE001 - a malformed header must not stop the classification
            found.append(str(raw).encode("utf-8", "replace").decode("utf-8", "replace"))
    return found


def raw_headers(message: Message, name: str) -> list[str]:
    """Every value of a header as it arrived (unfolded by nothing, decoded by nothing)."""
    return [str(raw) for _, raw in _by_name(message).get(name.lower(), ())]


def _by_name(message: Message) -> dict[str, list[tuple[str, str]]]:
    """The message's raw headers by lower-case name, built on the first look and kept on the
    message: the classifier asks some twenty-five questions of each message, and scanning
    every header for each was a third of its time. Messages are never changed once parsed."""
    index = message.__dict__.get("_headers_by_name")
    if index is None:
        index = {}
        for key, raw in message.raw_items():
            index.setdefault(key.lower(), []).append((key, raw))
        message.__dict__["_headers_by_name"] = index
    return index


def texts(message: Message) -> list[str]:
    """The first few non-HTML text parts, decoded (what a bounce says, in its own words)."""
    found = []
    for part, kind in parts(message):
        if kind.startswith("text/") and kind != "text/html":
            found.append(decoded_text(part)[:50_000])
        if len(found) >= 4:
            break
    return found
