"""Every language the issue names reads every kind of request, and a formal letter in each.

Issue 11: 24 EU languages plus Norwegian, Icelandic, Russian, Ukrainian, Turkish, Arabic,
Hebrew, Hindi, Chinese, Japanese, Korean, Vietnamese and Indonesian, each with unsubscribe,
access, erasure, keep-me and negation phrases, and a formal opening ("I hereby request") so
a long data-protection letter is read whatever its length (formal.py).
"""

from __future__ import annotations

import pytest

from newsletter.inbound import phrasebook
from newsletter.inbound.classify import Kind, classify

LANGUAGES = ("bg cs da de el en es et fi fr ga hr hu it lt lv mt nl pl pt ro sk sl sv "
             "no is ru uk tr ar he hi zh ja ko vi id").split()
FILLER = "\n\n" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 25


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_language_has_every_section_a_request_needs(code):
    [language] = [lang for lang in phrasebook.load().languages if lang.code == code]
    for section in ("unsubscribe", "access", "erasure", "keep", "formal", "auto_reply_subject"):
        assert language.patterns.get(section), f"{code}: no [{section}]"
    assert language.words.get("negation") or language.words.get("negation_after")


@pytest.mark.parametrize("opening, ask, expected", [
    ("Dengan ini saya meminta", "salinan data pribadi saya.", Kind.access_request),
    ("Ezúton kérem,", "töröljék adataimat.", Kind.erasure_request),
    ("Pyydän täten", "kopio henkilötiedoistani.", Kind.access_request),
    ("С настоящото моля", "изтрийте данните ми.", Kind.erasure_request),
    ("Цим прошу надати", "копію моїх даних.", Kind.access_request),
    ("特此要求", "删除我的个人信息。", Kind.erasure_request),
    ("다음과 같이 요청합니다:", "제 개인정보 열람.", Kind.access_request),
    ("הנני מבקש", "למחוק את המידע שלי.", Kind.erasure_request),
])
def test_a_long_formal_letter_is_read_in_languages_that_had_no_opening(opening, ask, expected):
    raw = (f"From: a@example.org\r\nTo: news@example.com\r\nSubject: GDPR\r\n"
           f"Content-Type: text/plain; charset=utf-8\r\n\r\n{opening} {ask}{FILLER}\r\n")
    verdict = classify(raw.encode())
    assert verdict.kind is expected, verdict.reasons
