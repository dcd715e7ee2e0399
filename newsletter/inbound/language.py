"""Which language a reply is written in, and the stems of its words (issue 11).

The language is guessed by py3langid (its model ships inside the package; about 20 microseconds a
text), restricted to the languages we have phrase files for. It only orders the phrase sets, so a
wrong guess costs nothing: every language is still tried. With a confident guess, a request
phrase of that language also matches its inflected forms ("wypiszcie mnie" for the phrase
"wypisz mnie", "désabonnez-moi" for "désabonner"): each long phrase word is cut to its Snowball
stem (snowballstemmer, rules in code, no data to load) and may end in any letters.

Stems rather than simplemma's lemmas: its dictionaries are loaded per language at run time,
and the Polish one alone took 4 s and about 450 MB; stems cost nothing per message, because
only the phrase words are stemmed, once.

>>> detect("Prosím odhlaste mě z odběru, děkuji.", ("cs", "de", "en", "pl"))
'cs'
>>> detect("ok", ("cs", "de", "en", "pl")) is None
True
>>> stem_pattern("wypisz mnie", "pl")
'wypisz\\\\w*\\\\s+mnie'
"""

from __future__ import annotations

import re
from functools import lru_cache

MIN_CHARS = 12  # shorter texts ("ok", "STOP") are guessed no better than chance
MIN_CONFIDENCE = 0.5  # py3langid's normalised probability of the best language
MAX_CHARS = 2000  # the start of the text says which language it is in
MIN_STEM = 4  # shorter stems ("wyp") would match too many words: the word itself is kept
MIN_WORD_STEMMED = 5  # a shorter word whose stem is shorter still is matched as it is
# Our phrase file codes -> Snowball stemmers. English is left out on purpose: its phrases list
# the forms already, and a stem would make "unsubscribed" (a report, not a request) match.
# Turkish too: it negates inside the verb ("çıkarmayın", do not remove, begins like "çıkarın").
STEMMERS = {"ar": "arabic", "cs": "czech", "da": "danish", "de": "german", "el": "greek",
            "es": "spanish", "et": "estonian", "fi": "finnish", "fr": "french", "ga": "irish",
            "hi": "hindi", "hu": "hungarian", "id": "indonesian", "it": "italian",
            "lt": "lithuanian", "nl": "dutch", "no": "norwegian", "pl": "polish",
            "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
            "sv": "swedish"}


@lru_cache(maxsize=4)
def _identifier(codes: tuple[str, ...]):
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    known = [code for code in codes if code in identifier.nb_classes]
    identifier.set_languages(known)
    return identifier


def detect(text: str, codes: tuple[str, ...]) -> str | None:
    """The code (one of `codes`, sorted) of the language the text is confidently in, else None."""
    text = text[:MAX_CHARS]
    if len(text.strip()) < MIN_CHARS or not codes:
        return None
    code, confidence = _identifier(codes).classify(text)
    return code if confidence >= MIN_CONFIDENCE else None


@lru_cache(maxsize=64)
def _stemmer(code: str):
    import snowballstemmer

    return snowballstemmer.stemmer(STEMMERS[code]) if code in STEMMERS else None


def stem_pattern(phrase: str, code: str) -> str | None:
    """A regex body for a normalised phrase whose words may be inflected; None when no word of
    it has a usable stem (or the language has no stemmer), so nothing new would match."""
    stemmer = _stemmer(code)
    if stemmer is None:
        return None
    pieces, changed = [], False
    for piece in phrase.split():
        if piece == "*":
            pieces.append(None)
            continue
        prefix = _stem_prefix(piece, stemmer.stemWord(piece))
        changed = changed or prefix is not None
        pieces.append(re.escape(prefix) + r"\w*" if prefix else re.escape(piece))
    if not changed:
        return None
    body, glue = "", ""
    for piece in pieces:
        if piece is None:
            body, glue = body + r"\s+((?:\S+\s+){0,4}?)", ""
            continue
        body, glue = body + glue + piece, r"\s+"
    return body


def _stem_prefix(word: str, stem: str) -> str | None:
    """What a word must start with to be a form of it ("wypiszcie" -> "wypisz")."""
    if not word.isalpha():
        return None
    common = 0
    while common < min(len(word), len(stem)) and word[common] == stem[common]:
        common += 1
    if common >= MIN_STEM and common < len(word):
        return word[:common]
    if len(word) >= MIN_WORD_STEMMED:
        return word  # a stemmer that changes letters (German umlauts): the whole word, then more
    return None
