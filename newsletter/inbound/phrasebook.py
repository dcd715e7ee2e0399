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
- `keep`: "but keep the newsletter coming": the person wants to stay; no unsubscribe then;
- `formal`: openings of a formal request letter ("I hereby request", "hiermit beantrage ich");
- `notice`: a list server's own wording ("your confirmation is needed to leave"): a message
  that carries it (forwarded or pasted) is not the person's own request.

With `prefer` (the language the text is in, language.py) that language's phrases are tried
first; when no phrase of any language matched or was cancelled, its request phrases are also
tried with their words inflected ("wypiszcie mnie" for "wypisz mnie").

A word of seven letters or more that is one letter away (missing, extra, replaced) from a word
of a request phrase is read as that word ("unsubscrible"), unless the difference is a letter
added at the end ("unsubscribed" is a word of its own, not a misspelling) or lies in the first
three letters, where the opposite requests differ: Polish "wpisanie" (sign-up) is not
"wypisanie" (removal), German "anmelden" is not "abmelden".

>>> book = load()
>>> book.find("unsubscribe", "hi, please unsubscribe me. thanks")[0]
'en: unsubscribe me'
>>> book.find("unsubscribe", "please do not unsubscribe me")
(None, 'en: unsubscribe me (negated)')
>>> book.find("unsubscribe", "Please unsubscrible me")[0]
'en: unsubscribe me'
>>> book.find("unsubscribe", "wypiszcie mnie z listy", prefer="pl")[0]
'pl: wypisz mnie (inflected)'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from newsletter.inbound import language as language_guess

PHRASE_DIR = Path(__file__).resolve().parent / "phrases"
SECTIONS = ("unsubscribe", "access", "erasure", "alone", "negation", "negation_after",
            "auto_reply_subject", "auto_reply_body", "keep", "formal", "notice")
SPELLED_SECTIONS = ("unsubscribe", "access", "erasure", "alone")  # misspellings tolerated here
# Inflected forms are read here: the requests, and "keep" (which only ever stops an unsubscribe).
INFLECTED_SECTIONS = ("unsubscribe", "access", "erasure", "keep")
MIN_SPELLED = 7  # only words this long: short ones have too many neighbours
PREFIX_KEPT = 3  # a misspelling is read only after these letters (an-/ab-, wp-/wyp-, un-)
WORD = re.compile(r"\w+")
LONG_WORD = re.compile(rf"\w{{{MIN_SPELLED},}}")
WILDCARD = r"((?:\S+\s+){0,4}?)"  # `*`: up to four words, captured to look for negations
# Spellings that are the same letter: Romanian cedilla/comma s and t, Arabic alef and ya forms,
# Greek vowels with and without the accent (often left out, always in capitals).
SAME_LETTER = str.maketrans({"ş": "ș", "ţ": "ț", "أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي",
                             "ά": "α", "έ": "ε", "ή": "η", "ί": "ι", "ό": "ο", "ύ": "υ",
                             "ώ": "ω", "ΐ": "ϊ", "ΰ": "ϋ"})
SENTENCE_END = re.compile(r"[.!?;\n\u3002\uff01\uff1f]")


def normalise(text: str) -> str:
    """Lower-case, NFKC, typographic quotes made plain, blanks collapsed.

    >>> normalise("Don\u2019t  SEND me")
    "don't send me"
    """
    text = unicodedata.normalize("NFKC", text).lower().translate(SAME_LETTER)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return re.sub(r"[ \t\u3000]+", " ", text).strip()


def _latin(char: str) -> bool:
    return char.isalnum() and ord(char) < 0x2E80  # CJK scripts have no spaces between words


def _bounded(char: str) -> bool:
    """A phrase that starts (ends) with this character starts (ends) at a word bound."""
    return not char.isalnum() or _latin(char)


def compile_phrase(phrase: str) -> re.Pattern:
    """A phrase line as a regex: blanks match any spacing, `*` a few words, word bounds."""
    phrase = re.sub(r"\s*\*\s*", " *", normalise(phrase)).strip()  # "a * b" reads as "a *b"
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
    _inflected: dict[str, list[tuple[str, re.Pattern]]] = field(default_factory=dict, repr=False)

    def inflected(self, section: str) -> list[tuple[str, re.Pattern]]:
        """The section's phrases whose words may be inflected (built on first use)."""
        found = self._inflected.get(section)
        if found is None:
            found = []
            for phrase, _ in self.patterns.get(section, []):
                norm = re.sub(r"\s*\*\s*", " * ", normalise(phrase)).strip()
                body = language_guess.stem_pattern(norm, self.code)
                if body is not None:
                    start = r"(?<!\w)" if _latin(norm[:1] or " ") else ""
                    found.append((phrase, re.compile(start + body + r"(?!\w)")))
            self._inflected[section] = found
        return found


@dataclass
class PhraseBook:
    """Every language's phrases; `find` answers which request a text makes, and why."""

    languages: list[Language]
    # Built once in __post_init__: per section every phrase in order, an index from a word each
    # phrase needs to the phrases (only those are tried on a text), and the spelling table
    # (each long phrase word with one letter deleted -> the word).
    _entries: dict[str, list[tuple[Language, str, re.Pattern]]] = field(
        default_factory=dict, repr=False)
    _index: dict[str, dict[str, list[int]]] = field(default_factory=dict, repr=False)
    _wide: dict[str, list[tuple[str, int]]] = field(default_factory=dict, repr=False)
    _words: set[str] = field(default_factory=set, repr=False)
    _deleted: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _seen: dict[str, str] = field(default_factory=dict, repr=False)
    _starts: set[str] = field(default_factory=set, repr=False)
    _codes: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        for section in SECTIONS:
            entries = [(lang, phrase, pattern) for lang in self.languages
                       for phrase, pattern in lang.patterns.get(section, [])]
            self._entries[section] = entries
            index, wide = self._index.setdefault(section, {}), self._wide.setdefault(section, [])
            for i, (_, phrase, _) in enumerate(entries):
                norm = normalise(phrase).replace("*", " ")
                key = max(WORD.findall(norm) or [norm], key=len)
                if _bounded(norm[:1]) and _bounded(norm[-1:]):
                    index.setdefault(key, []).append(i)  # a whole word of the text
                else:
                    wide.append((key, i))  # no word bounds (Chinese): looked for as a substring
        for language in self.languages:
            for section in SPELLED_SECTIONS:
                phrases = [p for p, _ in language.patterns.get(section, [])]
                phrases += language.words.get(section, set())
                for phrase in phrases:
                    self._words.update(LONG_WORD.findall(normalise(phrase)))
        self._starts = {w[:PREFIX_KEPT] for w in self._words}
        for word in self._words:
            for i in range(1, len(word)):
                self._deleted.setdefault(word[:i] + word[i + 1:], set()).add(word)

    def spell(self, text: str) -> str:
        """The normalised text with one-letter misspellings of long phrase words corrected.

        >>> load().spell("Please UNSUBSCRIBLE me, I was unsubscribed before")
        'please unsubscribe me, i was unsubscribed before'
        """
        text = normalise(text)
        done = self._seen.get(text)
        if done is None:
            done = LONG_WORD.sub(self._correct, text) if self._words else text
            if len(self._seen) > 64:
                self._seen.clear()
            self._seen[text] = done
        return done

    def _correct(self, match: re.Match) -> str:
        word = match.group(0)
        if word in self._words or word[:PREFIX_KEPT] not in self._starts:
            return word
        found = set(self._deleted.get(word, ()))  # one letter missing
        for i in range(PREFIX_KEPT, len(word) - 1):  # not in the prefix, nor added at the end
            shorter = word[:i] + word[i + 1:]
            if shorter in self._words:
                found.add(shorter)  # one letter too many
            found.update(self._deleted.get(shorter, ()))  # one letter replaced or swapped
        found = {w for w in found if w[:PREFIX_KEPT] == word[:PREFIX_KEPT] and _one_apart(w, word)}
        return found.pop() if len(found) == 1 else word

    @property
    def codes(self) -> tuple[str, ...]:
        """The language codes of the phrase files, sorted."""
        if not self._codes:
            self._codes = tuple(sorted(language.code for language in self.languages))
        return self._codes

    def find(self, section: str, text: str, plain: bool = False, prefer: str | None = None
             ) -> tuple[str | None, str | None]:
        """(matched phrase, None) or (None, why a match was cancelled) or (None, None).

        Only phrases whose longest word is in the text are tried (`plain`: all of them), those
        of the `prefer` language first."""
        text = self.spell(text) if section in SPELLED_SECTIONS else normalise(text)
        entries = self._entries.get(section, [])
        if plain:  # every phrase in order: the reference the index is tested against
            tried = range(len(entries))
        else:
            index, tried = self._index.get(section, {}), set()
            for word in set(WORD.findall(text)):
                tried.update(index.get(word, ()))
            tried.update(i for key, i in self._wide.get(section, ()) if key in text)
            tried = sorted(tried)
        if prefer:
            tried = sorted(tried, key=lambda i: entries[i][0].code != prefer)  # stable
        cancelled = None
        for i in tried:
            language, phrase, pattern = entries[i]
            for match in pattern.finditer(text):
                negation = self._negation(text, match, language)
                label = f"{language.code}: {phrase}"
                if negation is None:
                    return label, None
                cancelled = cancelled or f"{label} (negated)"
        if cancelled is None and prefer and section in INFLECTED_SECTIONS:
            return self._find_inflected(section, text, prefer)
        return None, cancelled

    def _find_inflected(self, section: str, text: str, code: str
                        ) -> tuple[str | None, str | None]:
        language = next((lang for lang in self.languages if lang.code == code), None)
        if language is None:
            return None, None
        cancelled = None
        for phrase, pattern in language.inflected(section):
            for match in pattern.finditer(text):
                label = f"{code}: {phrase} (inflected)"
                if self._negation(text, match, language) is None:
                    return label, None
                cancelled = cancelled or f"{label} (negated)"
        return None, cancelled

    def alone(self, text: str) -> str | None:
        """The language code if the whole text is one of the `alone` words."""
        bare = re.sub(r"[^\w\s]", " ", self.spell(text))
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
        # Scripts without spaces (Chinese): a negation is read in the few characters before.
        hit = words & negations or {n for n in negations if " " in n and n in before} or {
            n for n in negations if not _latin(n[0]) and n in before[-6:]}
        if hit:
            return sorted(hit)[0]
        for word in language.words.get("negation_after", set()):
            if after.startswith(word):
                return word
        return None


def _one_apart(a: str, b: str) -> bool:
    """One letter missing, added or replaced, or two neighbours swapped (not equal).

    >>> _one_apart("unsubscribe", "unsubscrible"), _one_apart("unsubscribed", "unsubscrible")
    (True, False)
    """
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    if abs(len(a) - len(b)) != 1:
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k in range(len(short)) if short[k] != long[k]), len(short))
    return short[i:] == long[i + 1:]


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
