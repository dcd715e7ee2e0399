"""Formal data-protection letters: read whatever their length (issue 11).

A letter that cites a data-protection article ("Art. 15 DSGVO", "article 17 du RGPD",
"artículo 15 del RGPD", "2016/679") or opens like a formal request ("I hereby request",
phrasebook section `formal`) and asks for access or erasure is that request, even at 2,500
characters: acting on it only mails a verification link to the sender, so a wrong call costs
little. An unsubscribe is never read from a long letter (acting on it is immediate).

>>> cited("Under Art. 15 GDPR I request a copy.")
'access'
>>> cited("conformément à l'article 17 du RGPD")
'erasure'
>>> cited("DSGVO Artikel 17 Abs. 1"), cited("Art. 15 Abs. 3 DSGVO"), cited("article 15 of our terms")
('erasure', 'access', None)
"""

from __future__ import annotations

import re

from newsletter.inbound import phrasebook

MAX_CHARS = 20_000  # a letter; beyond this we read no further

# The regulation by its names and abbreviations in the EU languages, and national laws that
# carry the same rights (LOPD/LOPDGDD Spain, UAVG Netherlands, RODO Poland, LGPD Brazil,
# KVKK Turkey, 152-FZ Russia).
LAWS = (r"gdpr|uk gdpr|dsgvo|ds-gvo|rgpd|avg|uavg|rodo|lopd|lopdgdd|lgpd|kvkk|gdpr|"
        r"2016/679|dataskyddsförordningen|databeskyttelsesforordningen|personvernforordningen|"
        r"γκπδ|общего регламента|152-фз|regolamento|regulation|verordnung|règlement|reglamento|"
        r"regulamento|verordening|rozporządzenia|nařízení|nariadenia|uredbe|regulamentului|"
        r"орзд|bdar|vdar|tietosuoja-asetuksen|tietosuoja-asetus|üldmääruse|isikuandmete")
ARTICLE_WORD = (r"art\.?|article|artikel|artículo|articulo|artigo|articolo|artykuł|artykułu|"
                r"čl\.?|článek|článku|članak|članka|člen|artikla|άρθρο|статья|статьи|ст\.|madde|"
                r"cikk|pants|straipsn\w*|artikkel|artikli|artiklan|член|статті|статтею")
NUMBER = r"(15|17)(?!\d)"
CITATION = re.compile(
    rf"(?<!\w)(?:{ARTICLE_WORD})\s*{NUMBER}[^\n;]{{0,40}}?(?<!\w)(?:{LAWS})(?!\w)"
    rf"|(?<!\w)(?:{LAWS})(?!\w)[,\s]{{0,3}}(?:{ARTICLE_WORD})\s*{NUMBER}",
    re.IGNORECASE)
KIND_BY_ARTICLE = {"15": "access", "17": "erasure"}  # GDPR Art. 15 access, Art. 17 erasure


def cited(text: str) -> str | None:
    """'erasure' or 'access' when the text cites GDPR Art. 17 or 15 (erasure wins)."""
    text = text[:MAX_CHARS]
    if "15" not in text and "17" not in text:
        return None  # the regex is slow; most texts cite nothing
    numbers = {a or b for a, b in CITATION.findall(text)}
    for number in ("17", "15"):
        if number in numbers:
            return KIND_BY_ARTICLE[number]
    return None


def request(book: phrasebook.PhraseBook, text: str) -> tuple[str, str] | None:
    """(section, why) of a formal access or erasure request, else None."""
    text = text[:MAX_CHARS]
    article = cited(text)
    opening, _ = book.find("formal", text)
    if article is None and opening is None:
        return None
    if article is not None:
        # The article says which right is exercised more plainly than any phrase around it.
        return article, f"a formal letter citing the data-protection article on {article}"
    for section in ("erasure", "access"):
        found, _ = book.find(section, text)
        if found:
            return section, f"a formal letter ({opening}) with an {section} phrase ({found})"
    return None
