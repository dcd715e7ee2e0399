"""The header writer on its own: RFC 2047 only where a value is not ASCII, folds only between
items, and values that decode back to what went in."""

from __future__ import annotations

import doctest
from email.header import decode_header, make_header

import pytest

from newsletter.sending import headers

CONFIG = {"MAIL_DEFAULT_SENDER": "Newsletter <newsletter@news.example.org>",
          "NEWSLETTER_MAIL_DOMAIN": "news.example.org"}


def value(line: bytes) -> str:
    return line.decode("ascii").split(": ", 1)[1].removesuffix("\r\n")


def test_doctests_hold():
    assert doctest.testmod(headers).failed == 0


def test_long_ascii_subject_is_folded_at_spaces_not_encoded():
    subject = "A long subject line " * 8
    line = headers.header("Subject", subject)
    assert b"=?" not in line
    assert all(len(part) <= headers.FOLD_AT for part in line.split(b"\r\n"))
    assert value(line).replace("\r\n", "") == subject


@pytest.mark.parametrize("text", ["Grüße aus Köln", "Grüße " * 40, "日本語のニュースレター" * 5])
def test_non_ascii_subject_round_trips(text):
    line = headers.header("Subject", text)
    assert line.isascii() and all(len(part) <= 998 for part in line.split(b"\r\n"))
    assert str(make_header(decode_header(value(line).replace("\r\n", "")))) == text


def test_non_ascii_display_name_round_trips_and_the_address_stays_plain():
    name = "Redaktion Köln – Grüße aus dem Rheinland und darüber hinaus, jede Woche neu"
    line = value(headers.from_header(CONFIG, name, "news@example.org")).replace("\r\n", "")
    phrase, address = line.rsplit(" ", 1)
    assert address == "<news@example.org>"
    assert str(make_header(decode_header(phrase))) == name


def test_sender_rule():
    assert headers.sender(CONFIG) == ("Newsletter", "newsletter@news.example.org")
    assert headers.sender(CONFIG, "", "", "Weekly") == ("Weekly", "newsletter@news.example.org")
    assert headers.sender(CONFIG, "Desk", "d@example.org", "Weekly") == ("Desk", "d@example.org")


def test_line_breaks_in_values_never_start_a_header():
    for line in (headers.header("Subject", "Hi\r\nBcc: x@example.org"),
                 headers.address_header("To", "Ann\nBcc: x@example.org", "a@example.org"),
                 headers.list_id_header(CONFIG, "weekly", "Weekly\r\nBcc: x@example.org")):
        assert b"\nBcc" not in line and line.count(b"\r\n") == 1 + line.count(b"\r\n ")
