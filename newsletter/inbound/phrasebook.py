"""Request phrases per language, read from `phrases/<lang>.txt` (a person can extend them).

File format: `[section]` lines, then one phrase per line; `#` starts a comment. Case, accents
of spacing and repeated blanks are ignored; `*` stands for up to four words. Sections:

- `unsubscribe`, `access`, `erasure`: request phrases, found anywhere in the new text;
- `alone`: words that are an unsubscribe request when they are the whole message ("STOP");
- `negation`: words that cancel a request phrase when they come before it in the same sentence
  ("please do NOT unsubscribe me") or stand in for a `*`;
- `negation_after`: the same, right after the phrase (Japanese puts the negation last);
- `auto_reply_subject`: subject phrases of out-of-office and other automatic answers;
- `auto_reply_body`: their wording in the text, used only when no request phrase matched;
- `keep`: "but keep the newsletter coming": the person wants to stay; no unsubscribe then.

>>> book = load()
>>> book.find("unsubscribe", "hi, please unsubscribe me. thanks")[0]
'en: unsubscribe me'
>>> book.find("unsubscribe", "please do not unsubscribe me")
(None, 'en: unsubscribe me (negated)')
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PHRASE_DIR = Path(__file__).resolve().parent / "phrases"
SECTIONS = ("unsubscribe", "access", "erasure", "alone", "negation", "negation_after",
            "auto_reply_subject", "auto_reply_body", "keep")
WILDCARD = r"((?:\S+\s+){0,4}?)"  # `*`: up to four words, captured to look for negations
SENTENCE_END = re.compile(r"[.!?;\n\u3002\uff01\uff1f]")


def normalise(text: str) -> str:
    """Lower-case, NFKC, typographic quotes made plain, blanks collapsed.

    >>> normalise("Don\u2019t  SEND me")
    "don't send me"
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return re.sub(r"[ \t\u3000]+", " ", text).strip()


def _latin(char: str) -> bool:
    return char.isalnum() and ord(char) < 0x2E80  # CJK scripts have no spaces between words


def compile_phrase(phrase: str) -> re.Pattern:
    """A phrase line as a regex: blanks match any spacing, `*` a few words, word bounds."""
    phrase = normalise(phrase)
    pieces = [re.escape(p) for p in phrase.split("*")]
    body = WILDCARD.join(r"\s+".join(piece.split(r"\ ")) for piece in pieces)
    start = r"(?<!\w)" if phrase and _latin(phrase[0]) else ""
    end = r"(?!\w)" if phrase and _latin(phrase[-1]) else ""
    return re.compile(start + body + end)


@dataclass
class Language:
    """The phrases of one language."""

    code: str
    patterns: dict[str, list[tuple[str, re.Pattern]]] = field(default_factory=dict)
    words: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class PhraseBook:
    """Every language's phrases; `find` answers which request a text makes, and why."""

    languages: list[Language]

    def find(self, section: str, text: str) -> tuple[str | None, str | None]:
        """(matched phrase, None) or (None, why a match was cancelled) or (None, None)."""
        text = normalise(text)
        cancelled = None
        for language in self.languages:
            for phrase, pattern in language.patterns.get(section, []):
                for match in pattern.finditer(text):
                    negation = self._negation(text, match, language)
                    label = f"{language.code}: {phrase}"
                    if negation is None:
                        return label, None
                    cancelled = cancelled or f"{label} (negated)"
        return None, cancelled

    def alone(self, text: str) -> str | None:
        """The language code if the whole text is one of the `alone` words."""
        bare = re.sub(r"[^\w\s]", " ", normalise(text))
        bare = " ".join(bare.split())
        for language in self.languages:
            if bare in language.words.get("alone", set()):
                return language.code
        return None

    @staticmethod
    def _negation(text: str, match: re.Match, language: Language) -> str | None:
        # Only the phrase's own language: Swedish "om" (if) is Dutch "om" (to).
        start = max(text.rfind(c, 0, match.start()) for c in ".!?;\n\u3002")
        before = text[start + 1:match.start()]
        inside = " ".join(g or "" for g in match.groups())
        after = text[match.end():match.end() + 12]
        words = set(re.findall(r"[\w']+", before + " " + inside))
        negations = language.words.get("negation", set())
        hit = words & negations or {n for n in negations if " " in n and n in before}
        if hit:
            return sorted(hit)[0]
        for word in language.words.get("negation_after", set()):
            if after.startswith(word):
                return word
        return None


def parse_file(code: str, text: str) -> Language:
    """Read one phrase file."""
    language = Language(code)
    section = None
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            if section not in SECTIONS:
                raise ValueError(f"phrases/{code}.txt: unknown section [{section}]")
            continue
        if section is None:
            raise ValueError(f"phrases/{code}.txt: phrase outside a section: {line!r}")
        if section in ("alone", "negation", "negation_after"):
            language.words.setdefault(section, set()).add(normalise(line))
        else:
            language.patterns.setdefault(section, []).append((line, compile_phrase(line)))
    return language


@lru_cache(maxsize=4)
def load(directory: Path = PHRASE_DIR) -> PhraseBook:
    """Every `<lang>.txt` in the phrase directory (read once per process)."""
    files = sorted(Path(directory).glob("*.txt"))
    return PhraseBook([parse_file(f.stem, f.read_text(encoding="utf-8")) for f in files])
