"""Every catalogue is complete: the messages pybabel extracts from the code and templates now are
exactly the ones each .po holds, every one translated, with the same placeholders, and the
committed .mo says what its .po says (the app reads the .mo)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from newsletter.i18n import LANGUAGES, TRANSLATIONS

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> set[str]:
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"),
                                "-k", "_", "-k", "gettext", "--no-location", "-o", str(pot),
                                str(ROOT)])
    with pot.open("rb") as fh:
        ids = {m.id for m in read_po(fh) if m.id}
    assert len(ids) > 50  # the extraction found the templates, not an empty tree
    return ids


def _po(code: str):
    with (TRANSLATIONS / code / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=code)


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_catalogue_holds_every_message_translated(code, extracted):
    catalogue = _po(code)
    held = {m.id for m in catalogue if m.id}
    assert not extracted - held, f"{code}: not in the catalogue: {sorted(extracted - held)}"
    assert not held - extracted, f"{code}: no longer used: {sorted(held - extracted)}"
    for message in catalogue:
        if not message.id:
            continue
        assert message.string, f"{code}: no translation for {message.id!r}"
        assert "fuzzy" not in message.flags, f"{code}: fuzzy translation for {message.id!r}"
        assert set(PLACEHOLDER.findall(message.string)) == set(PLACEHOLDER.findall(message.id)), \
            f"{code}: placeholders differ in {message.id!r}"


@pytest.mark.parametrize("code", list(LANGUAGES))
def test_compiled_catalogue_matches_its_source(code):
    with (TRANSLATIONS / code / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    assert compiled == {m.id: m.string for m in _po(code) if m.id}, \
        f"{code}: messages.mo is stale (make translations)"
