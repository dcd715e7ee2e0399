"""The languages subscribers see: which ones exist, and which one a page or a mail is in.

Pages: a subscriber known from the link (confirm, unsubscribe, preferences) gets their stored
language; otherwise the browser's Accept-Language picks among LANGUAGES; a browser that states
none gets the list's default language (`use_page_language`). Mail is rendered outside any
request's choice: callers wrap rendering in `in_language(mail_language(...))`, which forces the
locale for templates and gettext alike (Flask-Babel's force_locale).

Catalogues live in newsletter/translations/<code>/LC_MESSAGES/messages.po (+ compiled .mo,
committed); `make translations` extracts and compiles (README "Adding a language").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from flask import Flask, g, has_request_context, request
from flask_babel import Babel, force_locale, format_date, get_locale, refresh

# Order is the order shown in the preference centre and the admin forms.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "it": "Italiano",
    "nl": "Nederlands",
    "pt": "Português",
    "pl": "Polski",
}
DEFAULT_LANGUAGE = "en"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"

babel = Babel()


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    babel.init_app(app, locale_selector=_select_locale,
                   default_translation_directories=str(TRANSLATIONS))
    app.jinja_env.globals["page_language"] = current_language
    app.jinja_env.filters["longdate"] = long_date


def normalise(code: str | None) -> str | None:
    """'de-DE', 'DE', 'de_at' -> 'de'; None for a language we have no catalogue for."""
    if not code:
        return None
    base = code.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def _select_locale() -> str:
    if not has_request_context():
        return DEFAULT_LANGUAGE
    if request.path.startswith(("/admin", "/api/v1")):
        return DEFAULT_LANGUAGE  # the admin UI and the API are in English only
    chosen = g.get("page_language")
    if chosen:
        return chosen
    return browser_language() or g.get("page_fallback_language") or DEFAULT_LANGUAGE


def browser_language() -> str | None:
    """The browser's choice among LANGUAGES, or None when it names none of them: stored with a
    new subscriber, who otherwise follows the list's default (even if that changes later)."""
    if not has_request_context():
        return None
    return request.accept_languages.best_match(list(LANGUAGES))


def use_page_language(*, stored: str | None = None, fallback: str | None = None) -> None:
    """Called by a view before rendering: the subscriber's stored language wins over the
    browser's; `fallback` (the list's default) applies when the browser names none we have."""
    if normalise(stored):
        g.page_language = normalise(stored)
    if normalise(fallback):
        g.page_fallback_language = normalise(fallback)
    refresh()  # Flask-Babel keeps the locale once chosen; this choice comes later


def current_language() -> str:
    """The language the current page or mail is rendered in ('en', 'de', ...)."""
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def mail_language(subscriber_language: str | None, list_language: str | None = None) -> str:
    """The language of a mail to one subscriber: theirs, else the list's, else English."""
    return normalise(subscriber_language) or normalise(list_language) or DEFAULT_LANGUAGE


def long_date(value: datetime) -> str:
    """A date as people write it in the current language ("05 March 2027", "5. März 2027")."""
    if current_language() == DEFAULT_LANGUAGE:
        return f"{value:%d %B %Y}"  # as the English pages always wrote it
    return format_date(value, "long")


@contextmanager
def in_language(code: str | None) -> Iterator[None]:
    """Render templates and gettext calls inside in `code` (outside any request's choice)."""
    with force_locale(normalise(code) or DEFAULT_LANGUAGE):
        yield
