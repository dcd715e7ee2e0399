"""The header lines of every message we send, campaign or transactional, written as bytes.

One writer, so a confirmation and a newsletter from the same list carry the same From, List-Id and
List-Unsubscribe. Why not `email.policy.SMTP`: it treats List-Unsubscribe as unstructured text and,
when a long token URL does not fit a line, turns the whole value into RFC 2047 encoded words, which
no mail client can use as a link. Here RFC 2047 is used only for display names and subjects that
are not ASCII, and lines are folded only at the spaces we put between items.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, parseaddr

from newsletter import links

# DESIGN.md section 9: what the DKIM signature covers, the List-* headers included, so a receiver
# can trust the one-click link (RFC 8058 section 4 asks for List-Unsubscribe(-Post) to be signed).
SIGNED_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Id",
                  "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type")
# RFC 8058: the POST body a mail client sends to the first https URI of List-Unsubscribe.
LIST_UNSUBSCRIBE_POST = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
# RFC 3834 section 5: auto-responders must not answer mail marked so.
AUTO_SUBMITTED = b"Auto-Submitted: auto-generated\r\n"
FOLD_AT = 78  # RFC 5322 2.1.1: lines SHOULD be at most 78 characters (998 is the hard limit)
MAX_WORD = 900  # an ASCII word longer than this cannot stay on one line: encode it


def one_line(value: str) -> str:
    """A value with CR and LF turned into spaces: it can never start a new header.

    >>> one_line("Hello\\r\\nBcc: x@example.org")
    'Hello  Bcc: x@example.org'
    """
    return value.replace("\r", " ").replace("\n", " ")


def fold(name: str, items: list[str]) -> bytes:
    """`Name: item item ...` with CRLF, folded only at the spaces between items (RFC 5322 2.2.3).

    >>> fold("X", ["a,", "b"])
    b'X: a, b\\r\\n'
    """
    line, lines, empty = f"{name}:", [], True
    for item in items:
        # Never fold before an empty item: a line of only white space is not allowed.
        if not empty and item and len(line) + 1 + len(item) > FOLD_AT:
            lines.append(line)
            line = ""
        line += " " + item
        empty = False
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def _encoded_words(value: str, name: str = "") -> list[str]:
    """RFC 2047 encoded words, each short enough for a line of its own."""
    return Header(value, "utf-8", header_name=name or None).encode(linesep="\n").split()


def header(name: str, value: str) -> bytes:
    """An unstructured header (Subject): plain when ASCII, RFC 2047 encoded words when not.

    >>> header("Subject", "Grüße")
    b'Subject: =?utf-8?b?R3LDvMOfZQ==?=\\r\\n'
    """
    value = one_line(value)
    words = value.split(" ")
    if value.isascii() and max(map(len, words)) < MAX_WORD:
        return fold(name, words)
    return fold(name, _encoded_words(value, name))


def phrase(display_name: str) -> str:
    """A display name for From, To or List-Id: a quoted string, or encoded words if not ASCII.

    >>> phrase('The "Weekly" News')
    '"The \\\\"Weekly\\\\" News"'
    """
    display_name = one_line(display_name).strip()
    if display_name.isascii():
        return '"' + display_name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return " ".join(_encoded_words(display_name))


def address(display_name: str, addr_spec: str) -> str:
    """`phrase <addr>`, or the bare address when there is no display name.

    >>> address("The News", "news@example.org")
    '"The News" <news@example.org>'
    """
    addr_spec = one_line(addr_spec).strip()
    if not display_name.strip():
        return addr_spec
    return f"{phrase(display_name)} <{addr_spec}>"


def sender(config: Mapping, sender_name: str = "", sender_address: str = "",
           list_name: str = "") -> tuple[str, str]:
    """(display name, address) of From: the list's sender, else MAIL_DEFAULT_SENDER.

    A list's mail is signed with its sender name, or its own name when it has none, even when it
    borrows the default address; system mail (no list) uses MAIL_DEFAULT_SENDER as configured.
    """
    default = config.get("MAIL_DEFAULT_SENDER") or f"newsletter@{config['NEWSLETTER_MAIL_DOMAIN']}"
    default_name, default_address = parseaddr(default)
    if not (sender_name or sender_address or list_name):
        return default_name, default_address
    return sender_name or list_name, sender_address or default_address


def from_header(config: Mapping, sender_name: str = "", sender_address: str = "",
                list_name: str = "") -> bytes:
    """The From line by the sender rule above."""
    return address_header("From", *sender(config, sender_name, sender_address, list_name))


def address_header(name: str, display_name: str, addr_spec: str) -> bytes:
    """From, To or Reply-To with one mailbox."""
    return fold(name, address(display_name, addr_spec).split(" "))


def date_header(now: datetime) -> bytes:
    """Date in RFC 5322 form."""
    return f"Date: {format_datetime(now)}\r\n".encode()


def message_id_header(message_id: str) -> bytes:
    """Message-ID (made by transport.new_message_id on the mail domain)."""
    return f"Message-ID: {one_line(message_id)}\r\n".encode("ascii")


def list_id_header(config: Mapping, list_slug: str, list_name: str) -> bytes:
    """RFC 2919 List-Id: the list's name and `slug.mail-domain`."""
    list_id = f"<{list_slug}.{config['NEWSLETTER_MAIL_DOMAIN']}>"
    return fold("List-Id", phrase(list_name).split(" ") + [list_id])


def list_unsubscribe_header(config: Mapping, subscriber_id: int, list_id: int,
                            unsubscribe_url: str | None = None) -> bytes:
    """RFC 2369 List-Unsubscribe: `<https://...>, <mailto:...>` in plain ASCII.

    Folded only after the comma between the two items; the one-click URI comes first (RFC 8058).
    A caller that already signed the URL for the body passes it (a token costs a few HMACs).
    """
    url = unsubscribe_url or links.unsubscribe_url(config, subscriber_id, list_id)
    return fold("List-Unsubscribe", [
        f"<{url}>,",
        f"<{links.unsubscribe_mailto(config, subscriber_id, list_id)}>",
    ])


def list_headers(config: Mapping, subscriber_id: int, list_id: int, list_slug: str,
                 list_name: str) -> bytes:
    """List-Id, List-Unsubscribe and List-Unsubscribe-Post for one subscriber on one list."""
    return (list_id_header(config, list_slug, list_name)
            + list_unsubscribe_header(config, subscriber_id, list_id)
            + LIST_UNSUBSCRIBE_POST)
