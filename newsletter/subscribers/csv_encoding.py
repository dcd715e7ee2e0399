"""Which encoding a CSV file is in, decided on a bounded sample, or refused with the line.

A spreadsheet saves "CSV" in UTF-8 or, on Windows, in the machine's code page (windows-1252 in
Western Europe); read as UTF-8 with errors="replace", "Müller" was stored as "M\\ufffdller"
without a word. The order: a byte-order mark; strict UTF-8; else charset-normalizer's candidates
among the code pages spreadsheets write. A candidate must read every non-ASCII character as a
letter or common punctuation (names and addresses are letters); when the ones left still read
the sample differently and the language coherence does not settle it, the file is refused,
naming the first line that is not UTF-8 and how it would read, so a person chooses.
"""

from __future__ import annotations

import codecs
import io
import unicodedata
from typing import BinaryIO

from charset_normalizer import from_bytes

SAMPLE_BYTES = 64 * 1024
# What spreadsheet programs write as "CSV" besides UTF-8 (Excel: the Windows code page; old
# Macs: mac_roman; DOS exports: cp850). UTF-16 comes with a byte-order mark.
SPREADSHEET_ENCODINGS = ["cp1252", "iso8859_15", "cp1250", "cp1251", "cp1253", "cp1254",
                         "mac_roman", "cp850"]
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
         (codecs.BOM_UTF16_BE, "utf-16"))
_PUNCTUATION = set("\u00a0’‘“”„‚–—·•…«»")  # what a name or an address may hold


class UndecidedEncoding(ValueError):
    """The sample does not say which encoding the file is in; the message names the line."""


def detect(sample: bytes) -> str:
    """The encoding to read a file with, judged on its first bytes; raise UndecidedEncoding.

    >>> detect("email\\nada@example.org,Müller\\n".encode("utf-8"))
    'utf-8'
    >>> sample = "email,name\\nm@example.org,Müller\\n".encode("latin-1")
    >>> sample.decode(detect(sample)).split(",")[-1]
    'Müller\\n'
    """
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    try:
        # final=False: the sample may end inside a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    readings: dict[str, list] = {}  # text -> the matches that read the sample so
    for match in from_bytes(sample, cp_isolation=SPREADSHEET_ENCODINGS):
        text = str(match)
        if _plausible(text):
            readings.setdefault(text, []).append(match)
    if len(readings) == 1:
        # Several code pages may read the sample alike; the rest of the file is read with the
        # one spreadsheets write most often (the list's order).
        return min(next(iter(readings.values())), key=_rank).encoding
    ranked = sorted((min(group, key=_rank) for group in readings.values()),
                    key=lambda m: m.coherence, reverse=True)
    if len(ranked) > 1 and ranked[0].coherence > ranked[1].coherence:
        return ranked[0].encoding
    candidates = [m.encoding for m in sorted(ranked, key=_rank)]
    raise UndecidedEncoding(_refusal(sample, first_bad, candidates))


def _rank(match) -> int:
    return SPREADSHEET_ENCODINGS.index(match.encoding) if match.encoding in \
        SPREADSHEET_ENCODINGS else len(SPREADSHEET_ENCODINGS)


def _plausible(text: str) -> bool:
    """Every non-ASCII character a letter or common punctuation, no word in two scripts.

    >>> _plausible("a@b.org,Müller,Łukasz,Иван"), _plausible("M³ller"), _plausible("Mьller")
    (True, False, False)
    """
    scripts: set[str] = set()  # of the word being read
    for char in text + " ":
        if unicodedata.category(char)[0] in "LM":
            scripts.add("LATIN" if char.isascii() else unicodedata.name(char, "?").split()[0])
            if len(scripts) > 1:
                return False
            continue
        scripts = set()  # a word ends at anything that is not a letter
        if not char.isascii() and char not in _PUNCTUATION:
            return False
    return True


def _refusal(sample: bytes, first_bad: int, candidates: list[str]) -> str:
    """Name the first line the candidates read differently (else the first not UTF-8)."""
    lines = sample.split(b"\n")
    number = sample.count(b"\n", 0, first_bad)
    for index, line in enumerate(lines[:-1] if len(lines) > 1 else lines):
        if len({line.decode(name, "replace") for name in candidates}) > 1:
            number = index
            break
    line = lines[number].rstrip(b"\r")
    readings = "; ".join(f"as {name}: {line.decode(name, 'replace')!r}" for name in candidates[:4])
    return (f"line {number + 1} is not UTF-8 and the file's encoding is not clear"
            f"{' (' + readings + ')' if readings else ''}. Save the file as UTF-8 "
            f"(\"CSV UTF-8\" in a spreadsheet) or choose its encoding.")


def open_text(binary: BinaryIO, encoding: str | None = None) -> io.TextIOWrapper:
    """`binary` as text for the csv module: in `encoding`, or the one detected on its first
    SAMPLE_BYTES (the stream is put back where it started: only the sample is held in memory).

    Bytes that still do not decode become U+FFFD, which the import refuses row by row, naming
    the line; none is ever stored. LookupError for an encoding name Python does not know.
    """
    if encoding:
        codecs.lookup(encoding)
    else:
        start = binary.tell()
        sample = binary.read(SAMPLE_BYTES)
        binary.seek(start)
        encoding = detect(sample)
    return io.TextIOWrapper(binary, encoding=encoding, errors="replace", newline="")
