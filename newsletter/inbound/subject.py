"""What a subject says once list tags and reply/forward prefixes are taken off.

A subject that was carried over from another message ("Re: Unsubscribe me now!", also behind a
list tag: "[Garden] Re: ...") is someone else's words, never a request of the sender's own
(issue 11: a tag before "Re:" hid the prefix and unsubscribed a person who had only replied).

>>> read("[Garden] Re: Unsubscribe me now!")
Subject(text='Unsubscribe me now!', inherited=True)
>>> read("[Garden] unsubscribe")
Subject(text='unsubscribe', inherited=False)
>>> read("AW: [Weekly] WG: Re[2]: leave")
Subject(text='leave', inherited=True)
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Reply and forward prefixes as mail clients write them: English, German (AW, WG), Nordic
# (SV, VS, VB, FS, VL), Dutch (Antw, Doorst), French (TR, RE), Spanish/Portuguese (RV, RES,
# ENC), Italian (R, RIF, I), Polish (Odp, PD), Czech (Odp, Fwd, PŘ), Croatian/Serbian (Odg,
# Proslijeđeno: Fwd), Turkish (YNT, İLT), Greek (ΑΠ, ΣΧΕΤ, ΠΡΘ), Russian (Отв, Пересл),
# Hungarian (Vá, Tov), Finnish (VS, VL), Chinese (回复, 答复, 转发), Japanese (返信, 転送),
# Korean (회신, 전달), and Latvian (Atb), Lithuanian (Ats), Indonesian (Balas), Brazilian
# Portuguese (Resp), French (Réf), Romanian (Răspuns), Hungarian (Továbbítás), Vietnamese
# (Trả lời, TL), Turkish (Yanıt), Ukrainian (Відп), Bulgarian (Отг), Hebrew (השב, תשובה,
# העבר), Arabic (رد, توجيه). Numbered forms "Re[2]:" and "Re^2:" too, and a dot before the
# colon ("Odp.:", "Réf. :").
PREFIXES = ("re|aw|sv|vs|vb|fs|vl|antw|antwort|doorst|odp|odg|pd|tr|rv|res|enc|r|rif|i|fw|fwd|"
            "wg|ynt|ilt|i̇lt|απ|σχετ|πρθ|отв|ответ|пересл|fwd|vá|tov|přep|přeposl|př|"
            "atb|ats|balas|resp|réf|răspuns|raspuns|továbbítás|trả lời|tl|yanıt|yanit|"
            "відп|відповідь|отг|השב|תשובה|העבר|رد|توجيه|"
            "回复|回覆|答复|转发|轉寄|返信|転送|회신|답장|전달")
PREFIX = re.compile(rf"^\s*(?:{PREFIXES})\.?\s*(?:\[\d+\]|\^\d+|\(\d+\))?\s*[:：]",
                    re.IGNORECASE)
# The same prefix anywhere (after a tag, a blank or a bracket): the subject was inherited.
PREFIX_ANYWHERE = re.compile(rf"(?:^|[\s\]\)])(?:{PREFIXES})\.?\s*(?:\[\d+\]|\^\d+)?\s*[:：]",
                             re.IGNORECASE)
LIST_TAG = re.compile(r"^\s*\[[^\[\]]{1,60}\]")  # "[Garden]", "[list-name 123]"
MAX_ROUNDS = 10  # "Re: Re: Re: [x] Fwd: ..." is taken apart this far, then left alone


class Subject(NamedTuple):
    """The words of a subject and whether it was carried over from another message."""

    text: str
    inherited: bool


def read(subject: str) -> Subject:
    """The subject without tags and prefixes, and whether any reply prefix was in it."""
    text = subject.strip()
    inherited = bool(PREFIX_ANYWHERE.search(text))
    for _ in range(MAX_ROUNDS):
        stripped = LIST_TAG.sub("", text, count=1)
        stripped = PREFIX.sub("", stripped, count=1)
        if stripped == text:
            break
        text = stripped.strip()
    return Subject(text.strip(), inherited)


def own_words(subject: str) -> str:
    """The subject as the sender's own words, or "" when it was inherited.

    >>> own_words("[Tag] Re: Unsubscribe me now!")
    ''
    >>> own_words("[News] Remove me")
    'Remove me'
    """
    read_subject = read(subject)
    return "" if read_subject.inherited else read_subject.text
