"""Subjects: list tags and reply/forward prefixes come off; an inherited subject never acts.

Issue 11: "[Tag] Re: Unsubscribe me now!" (the list tag stood before "Re:") was read as the
sender's own request and unsubscribed a person who had only replied to a thread.
"""

from __future__ import annotations

import pytest

from newsletter.inbound.classify import Kind, classify
from newsletter.inbound.subject import read
from tests.inbound.mails import plain

SIGNATURE = "-- \nAnn Smith\nGarden Club, Leeds\n+44 113 496 0000"


def _classify(subject: str, text: str = "") -> Kind:
    raw = plain("Ann Smith <ann@example.net>", "news@news.example.org", subject, text,
                message_id="<subject-test@example.net>")
    return classify(raw).kind


@pytest.mark.parametrize("subject, text", [
    ("[Tag] Re: Unsubscribe me now!", ""),
    ("[Tag] Re: Unsubscribe me now!", "Great idea, count me in for Saturday."),
    ("[Garden] AW: [Garden] bitte abmelden", "Ich komme auch."),
    ("Re: [Weekly] unsubscribe", ""),
    ("[Weekly] Fwd: remove me", SIGNATURE),
    ("SV: [Nyhedsbrev] afmeld", ""),
    ("Odp: [Lista] wypisz mnie", ""),
    ("RV: darme de baja", ""),
    ("TR: désabonnement", ""),
    ("WG: abmelden", ""),
    ("YNT: aboneliğimi iptal et", ""),
    ("Отв: отпишите меня", ""),
    ("ΑΠ: διαγραφή από τη λίστα", ""),
    ("Re[2]: unsubscribe", ""),
    ("[List] Re^3: leave", ""),
    ("Fwd: [List] leave", SIGNATURE),
    ("[List] leave the list? Re: plans", ""),
    ("回复: 退订", ""),
])
def test_inherited_subject_is_never_a_request(subject, text):
    assert _classify(subject, text) is not Kind.unsubscribe


@pytest.mark.parametrize("subject, text", [
    ("[Tag] unsubscribe", ""),
    ("[Tag] unsubscribe", SIGNATURE),
    ("[Weekly News] Unsubscribe", "Thanks,\nAnn"),
    ("leave", ""),
    ("[Garden] leave", SIGNATURE),
    ("[Garden] [Members] Leave", "\n\n"),
    ("unsubscribe", SIGNATURE),
    ("[Garden] abmelden", ""),
])
def test_tagged_or_bare_command_subject_acts(subject, text):
    assert _classify(subject, text) is Kind.unsubscribe


@pytest.mark.parametrize("subject, text, inherited", [
    ("[Tag] Re: Unsubscribe me now!", "Unsubscribe me now!", True),
    ("AW: WG: [x] Fwd: hello", "hello", True),
    ("[a] [b] unsubscribe", "unsubscribe", False),
    ("Remove me", "Remove me", False),
    ("Subscription question re: billing", "Subscription question re: billing", True),
])
def test_read_takes_off_tags_and_prefixes_in_any_order(subject, text, inherited):
    assert read(subject) == (text, inherited)


# Reply and forward prefixes as mail clients write them in the languages we read, dot and all:
# a subject behind any of them was carried over, so an empty reply under it never acts.
LOCAL_PREFIXES = ["Atb:", "Ats:", "Balas:", "Odp.:", "Přeposl.:", "Resp.:", "Réf. :", "Răspuns:",
                  "Továbbítás:", "Trả lời:", "Yanıt:", "Відп:", "Отг:", "השב:", "תשובה:", "رد:",
                  "AW:", "SV:", "Odp:", "Ynt:", "回复：", "Απ:", "Отв:", "RIF:", "답장:"]


@pytest.mark.parametrize("prefix", LOCAL_PREFIXES)
def test_a_local_reply_prefix_makes_the_subject_inherited(prefix):
    assert read(f"{prefix} unsubscribe") == ("unsubscribe", True)
    raw = plain("Ann <ann@example.net>", "reply+r1.abc.def@news.example.org",
                f"{prefix} unsubscribe", "Ann", message_id="<prefix@example.net>")
    assert classify(raw).kind is not Kind.unsubscribe
