"""Property: whatever bytes arrive, `classify` returns a Verdict and its rules never crash.

`classify` turns any exception into a `human` verdict with a "classifier error" reason, so
"never raises" alone would hold even if every rule crashed; the reasons are checked too.
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


def test_a_crashing_rule_is_caught_by_the_check(monkeypatch):
    """The check above sees a crash that `classify` swallowed (so the property can fail)."""
    def crash(message, verdict):
        raise RuntimeError("injected")

    monkeypatch.setattr(classify_module, "_rule_request", crash)
    with pytest.raises(AssertionError, match="classifier crashed"):
        _check(b"From: a@example.org\r\nSubject: hi\r\n\r\nplease unsubscribe me\r\n")


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
