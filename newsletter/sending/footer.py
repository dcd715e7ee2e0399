"""The newsletter's own words around the marketer's content, in the reader's language.

The marketer writes the body in whatever language they like; the lines we add (why you get
this, unsubscribe, preferences, your data, the click-count disclosure) are ours, and a German
subscriber must not find the way out of a German newsletter in English. Layouts name them as
`{{ footer.unsubscribe }}` and so on; the text part and the fallbacks in compose.py use the
same words.

The catalogues are Flask-Babel's (newsletter/translations), read here with Babel directly: the
worker renders a thousand messages a second, and these words are looked up once per language
per process instead of switching the locale per message.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from babel.support import Translations

from newsletter.i18n import TRANSLATIONS, normalise

WHY = "why"  # the one per-reader line: it names the list and the reader's address


@cache
def words(language: str | None) -> Mapping[str, str]:
    """The footer words for `language` (English for one we have no catalogue for); `why` is a
    %-format string with `list` and `email` (see `for_reader`)."""
    catalogue = Translations.load(str(TRANSLATIONS), [normalise(language) or "en"])
    _ = catalogue.gettext
    return MappingProxyType({
        WHY: _("You receive %(list)s because you subscribed as %(email)s."),
        "unsubscribe": _("Unsubscribe"),
        "preferences": _("Preferences"),
        "your_data": _("Your data"),
        "your_data_long": _("Your data: see it or have it deleted"),
        "archive": _("Archive"),
        "clicks": _("Clicks on links in this newsletter are counted per link, never per "
                    "person: no one can see who clicked."),
    })


def for_reader(language: str | None, list_name: str, email: str,
               address: str = "") -> dict[str, str]:
    """The `footer` a template sees for one reader: the words, with `why` filled in, and the
    sender's postal `address` as written (CAN-SPAM; empty when none is set)."""
    found = words(language)
    return {**found, WHY: found[WHY] % {"list": list_name, "email": email}, "address": address}
