"""Property: whatever bytes arrive, `classify` returns a Verdict and its rules never crash.

In production `classify` turns any exception into a `human` verdict with a "classifier error"
reason, so "never raises" alone would hold even if every rule crashed. Here (conftest.py) it
runs strictly and re-raises; the reasons are checked too, for the production fallback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter.inbound import classify as classify_module
from newsletter.inbound.classify import Kind, Verdict, classify

# How `classify` records an exception it caught (newsletter/inbound/classify.py).
CLASSIFIER_ERROR = "classifier error:"

OWN = Path(__file__).resolve().parent.parent / "data" / "inbound"
SEEDS = [p.read_bytes() for p in sorted(OWN.glob("*.eml"))]
MARKERS = [b"\r\n\r\n", b"--BND", b"--ARF", b"Content-Type: ", b"multipart/report; boundary=",
           b"message/delivery-status", b"message/rfc822", b"Status: 5.1.1", b"=?utf-8?b?",
           b"charset=", b"\xff\xfe", b"\x00", b"> ", b"Auto-Submitted: ", b"reply+", b"@"]
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mangled(draw) -> bytes:
    """A real message with bytes cut, flipped, repeated and spliced in."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "marker", "dup"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "cut":
            del data[at:at + draw(st.integers(1, 400))]
        elif op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(max_size=64))
        elif op == "marker":
            data[at:at] = draw(st.sampled_from(MARKERS))
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 200))] * draw(st.integers(1, 5))
    return bytes(data)


def _check(raw: bytes) -> None:
    verdict = classify(raw)
    assert isinstance(verdict, Verdict) and isinstance(verdict.kind, Kind)
    assert verdict.message_key and all(isinstance(r, str) for r in verdict.reasons)
    crashed = [r for r in verdict.reasons if r.startswith(CLASSIFIER_ERROR)]
    assert not crashed, f"the classifier crashed on {raw[:200]!r}: {crashed}"
    verdict.to_json()


def crash(message, verdict):
    raise RuntimeError("injected")


def test_a_crashing_rule_fails_the_check(monkeypatch):
    """Strict (as in every inbound test): the crash itself fails the test."""
    monkeypatch.setattr(classify_module, "_rule_request", crash)
    with pytest.raises(RuntimeError, match="injected"):
        _check(b"From: a@example.org\r\nSubject: hi\r\n\r\nplease unsubscribe me\r\n")


def test_a_crash_swallowed_in_production_is_still_caught_by_the_check(monkeypatch, caplog):
    """Production falls back to `human` and logs; the check still sees it (so it can fail)."""
    monkeypatch.setattr(classify_module, "_rule_request", crash)
    monkeypatch.setattr(classify_module, "RAISE_ERRORS", False)
    # Alembic's logging setup (fileConfig) disables loggers made before it, in earlier tests.
    monkeypatch.setattr(classify_module.log, "disabled", False)
    raw = b"From: a@example.org\r\nSubject: hi\r\n\r\nplease unsubscribe me\r\n"
    assert classify(raw).kind is Kind.human
    assert "classifier error on message" in caplog.text
    with pytest.raises(AssertionError, match="classifier crashed"):
        _check(raw)


@FUZZ
@given(mangled())
def test_mangled_messages_never_raise(raw):
    _check(raw)


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise(raw):
    _check(raw)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["From", "To", "Subject", "Content-Type",
                                           "Message-ID", "Auto-Submitted", "Delivered-To",
                                           "Content-Transfer-Encoding", "X-Autoreply"]),
                          st.text(max_size=80)), max_size=8),
       st.text(max_size=2000))
def test_generated_headers_and_text_never_raise(headers, body):
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n" + body
    _check(raw.encode("utf-8", "surrogatepass"))


# --- odd charsets, nested MIME, huge mail --------------------------------------------------------

CHARSETS = ["utf-8", "utf-7", "utf-16", "utf-32", "iso-2022-jp", "shift_jis", "cp1252", "koi8-r",
            "gb18030", "big5", "iso-8859-8-i", "x-unknown", "unicode-1-1-utf-7", "", "utf-8''",
            "us-ascii", "windows-1255", "euc-kr", "\"utf-8\"", "utf8; format=flowed"]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus", ""]
KINDS = ["text/plain", "text/html", "message/delivery-status", "text/rfc822-headers",
         "message/feedback-report", "application/octet-stream"]
WORDS = ["please unsubscribe me", "Bitte abmelden", "отпишите меня", "退订", "Status: 5.1.1",
         "Action: failed", "Final-Recipient: rfc822; a@example.org", "Art. 17 DSGVO",
         "reply+abc.def.ghi@news.example.org", "> quoted", "-- ", "=?utf-8?b?w7w=?="]


@st.composite
def leaf(draw) -> str:
    """One MIME leaf with a drawn charset and transfer encoding, body text or junk."""
    charset = draw(st.sampled_from(CHARSETS))
    text = " ".join(draw(st.lists(st.sampled_from(WORDS) | st.text(max_size=40), max_size=6)))
    if draw(st.booleans()):
        try:
            body = text.encode(charset.strip('"').split(";")[0].split("'")[0] or "ascii")
            body = body.decode("latin-1")
        except (LookupError, UnicodeError):
            body = text
    else:
        body = draw(st.binary(max_size=200)).decode("latin-1")
    return (f"Content-Type: {draw(st.sampled_from(KINDS))}; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {draw(st.sampled_from(ENCODINGS))}\r\n\r\n{body}\r\n")


def _multipart(children: list[str], kind: str, boundary: str, close: bool) -> str:
    parts = "".join(f"--{boundary}\r\n{child}" for child in children)
    return (f"Content-Type: multipart/{kind}; boundary=\"{boundary}\"\r\n\r\n"
            f"{parts}" + (f"--{boundary}--\r\n" if close else ""))


nested = st.recursive(
    leaf(),
    lambda inner: st.one_of(
        st.builds(_multipart, st.lists(inner, max_size=4),
                  st.sampled_from(["mixed", "alternative", "report", "related", "signed"]),
                  st.sampled_from(["b1", "b2", "b1", "x"]), st.booleans()),
        st.builds(lambda child: f"Content-Type: message/rfc822\r\n\r\n{child}", inner),
    ),
    max_leaves=12,
)


@FUZZ
@given(nested, st.sampled_from(["", "Auto-Submitted: auto-replied\r\n",
                                "From: MAILER-DAEMON@mx.example.org\r\n",
                                "Subject: Undelivered Mail Returned to Sender\r\n"]))
def test_nested_mime_in_odd_charsets_never_raises(body, extra):
    head = ("From: Ann <ann@example.net>\r\nTo: news@news.example.org\r\nSubject: Re: hi\r\n"
            f"Message-ID: <nested@example.net>\r\nMIME-Version: 1.0\r\n{extra}")
    _check((head + body).encode("latin-1", "replace"))


def _deep(depth: int, kind: str) -> bytes:
    head = b"From: a@example.net\r\nTo: news@news.example.org\r\nSubject: deep\r\n"
    body = b"Content-Type: text/plain\r\n\r\nplease unsubscribe me\r\n"
    for level in range(depth):
        if kind == "multipart":
            boundary = f"b{level}".encode()
            body = (b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--"
                    + boundary + b"\r\n" + body + b"--" + boundary + b"--\r\n")
        else:
            body = b"Content-Type: message/rfc822\r\n\r\n" + head + body
    return head + body


@pytest.mark.parametrize("kind", ["multipart", "message"])
@pytest.mark.parametrize("depth", [50, 400])
def test_deeply_nested_mime_never_raises(kind, depth):
    _check(_deep(depth, kind))


@pytest.mark.parametrize("raw", [
    b"From: a@example.net\r\nSubject: unsubscribe\r\n\r\n" + b"x" * 3_000_000,  # one long line
    b"From: a@example.net\r\nSubject: big\r\n\r\n" + b"please unsubscribe me\r\n" * 150_000,
    b"X-Junk: " + b"y" * 400_000 + b"\r\nFrom: a@example.net\r\n\r\nunsubscribe\r\n",  # no end
    b"Subject: only headers, no body and no blank line",
], ids=["long-line", "many-lines", "huge-header", "no-body"])
def test_huge_or_truncated_mail_never_raises(raw):
    _check(raw)
    verdict = classify(raw, max_bytes=100_000)
    assert verdict.kind is Kind.human or len(raw) <= 100_000
