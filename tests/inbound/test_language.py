"""The language a reply is written in orders the phrase sets and lets that language's request
phrases match inflected forms (language.py); negations still cancel, and English stays literal."""

from __future__ import annotations

import pytest

from newsletter.inbound import language
from newsletter.inbound.classify import Kind, classify
from newsletter.inbound.phrasebook import load

from .mails import plain

SENDER = "Ann <ann@example.net>"
TO = "news@news.example.org"


def verdict_of(text: str, subject: str = "Newsletter"):
    return classify(plain(SENDER, TO, subject, text, message_id="<lang@example.net>"))


@pytest.mark.parametrize(("text", "code"), [
    ("Prosím odhlaste mě z odběru tohoto zpravodaje, děkuji.", "cs"),
    ("Pozdravljeni, odjavite me prosim od teh novic, hvala.", "sl"),
    ("Poštovani, molim vas odjavite me s ovog popisa, hvala lijepa.", "hr"),
    ("Здравствуйте, отпишите меня от этой рассылки, пожалуйста.", "ru"),
])
def test_the_language_is_detected_among_the_phrase_files(text, code):
    assert language.detect(text, load().codes) == code


def test_a_short_text_gets_no_guess():
    assert language.detect("STOP", load().codes) is None


def test_the_detected_language_is_tried_first():
    """'odjavite me' is Croatian and Slovene: the Slovene text is read as Slovene."""
    verdict = verdict_of("Pozdravljeni, odjavite me prosim od teh novic, hvala.")
    assert verdict.kind is Kind.unsubscribe and verdict.language == "sl"
    assert "written in sl (py3langid)" in verdict.reasons
    assert verdict_of("Poštovani, molim vas odjavite me s ovog popisa, hvala.").language == "hr"


@pytest.mark.parametrize(("text", "code"), [
    ("Dzień dobry, wypiszcie mnie proszę z tej listy mailingowej.", "pl"),
    ("Hei, poistakaa minut postituslistaltanne kiitos.", "fi"),
    ("Guten Tag, ich möchte den Newsletter abbestellt haben, danke.", "de"),
])
def test_inflected_request_phrases_act(text, code):
    verdict = verdict_of(text)
    assert verdict.kind is Kind.unsubscribe, verdict.reasons
    assert verdict.language == code
    assert any("(inflected)" in reason for reason in verdict.reasons)


@pytest.mark.parametrize("text", [
    "Dzień dobry, proszę, nie wypiszcie mnie z tej listy, czytam ją.",  # negated before
    "Merhaba, lütfen beni listeden çıkarmayın, bülteni seviyorum.",  # Turkish: in the verb
    "Hi, I unsubscribed from the other list last week, this one is fine.",  # English literal
])
def test_inflected_forms_do_not_turn_a_refusal_or_a_report_into_a_request(text):
    assert verdict_of(text).kind is Kind.human


def test_without_a_guess_no_inflected_form_is_read():
    book = load()
    text = "wypiszcie mnie z listy"
    assert book.find("unsubscribe", text) == (None, None)
    assert book.find("unsubscribe", text, prefer="pl")[0].endswith("(inflected)")


def test_an_inflected_keep_phrase_stops_an_unsubscribe():
    """"Remove me from the beta group, but I still want the newsletter": inflected too."""
    verdict = verdict_of("Wypiszcie mnie z grupy beta, ale newsletter chcę nadal otrzymywał, "
                         "dziękuję.")
    assert verdict.kind is Kind.human
    assert any("also says to keep (pl: nadal otrzymywać (inflected))" in r for r in verdict.reasons)
