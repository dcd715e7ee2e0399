"""The layout library: each list's layouts (HTML or MJML), one of them its default.

A layout is a Jinja template with `{{ content }}` where the campaign body goes. MJML sources are
compiled to responsive HTML when saved (mjml-python, the MRML compiler), and the HTML is stored
beside the source, so sending never compiles MJML. Every save goes through THE layout rule,
`compose.check_layout` (a body slot, and a render for sample and real readers under the
sandbox's limits), the same check a campaign save runs; a refused save raises LayoutError and
changes nothing.

Which layout a campaign is wrapped in, on each of its lists (`html_for`): the campaign's chosen
layout on that layout's own list, else the list's default, else the built-in
templates/email/layouts/simple.html, the "Simple" starter (compose.DEFAULT_LAYOUT).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import mjml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.models import Campaign, CampaignStatus, Layout, LayoutFormat, MailingList
from newsletter.sending import compose

STARTER_DIR = Path(__file__).resolve().parents[2] / "templates" / "email" / "layouts"
MAX_SOURCE = 200_000  # characters: ten times the largest starter; MRML's work stays small
MAX_NAME = 200
# A name is shown in pages and stored as text: no control characters (PostgreSQL refuses NUL).
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Campaigns that may still be sent: their layout may not be deleted from under them.
UNSENT = (CampaignStatus.draft, CampaignStatus.scheduled, CampaignStatus.recurring,
          CampaignStatus.welcome, CampaignStatus.sending, CampaignStatus.paused)


class LayoutError(ValueError):
    """A layout cannot be saved or deleted; the message says why (and where)."""


@dataclass(frozen=True)
class Starter:
    """A built-in layout to start from (a file under templates/email/layouts/)."""

    slug: str
    name: str
    source_format: LayoutFormat
    filename: str

    def source(self) -> str:
        """The starter's source as shipped."""
        return (STARTER_DIR / self.filename).read_text()


# No external assets in any of them: no web fonts, no remote images or stylesheets.
STARTERS = (
    Starter("simple", "Simple", LayoutFormat.html, "simple.html"),
    Starter("brand-header", "Brand header", LayoutFormat.html, "brand_header.html"),
    Starter("responsive", "Responsive (MJML)", LayoutFormat.mjml, "responsive.mjml"),
)


def starter(slug: str) -> Starter | None:
    """The built-in layout named `slug`, or None."""
    return next((s for s in STARTERS if s.slug == slug), None)


# --- compile and check -----------------------------------------------------------------------------


def compile_mjml(source: str) -> str:
    """MJML -> HTML with every Jinja tag kept as written; raise LayoutError.

    The tags are swapped for inert words first: MRML parses the source as XML-like markup, and
    a tag such as `{{ x | default("a") }}` inside an attribute would end it. A tag MRML drops
    (written where MJML allows no text) is refused, naming it, rather than lost.
    No web fonts are linked (`fonts={}`), and `mj-include` finds no files (no loader is given).
    """
    nonce, saved = secrets.token_hex(4), []

    def swap(match: re.Match) -> str:
        saved.append(match.group(0))
        return f"nljinja{nonce}x{len(saved) - 1}x"

    protected = compose.JINJA_TAG.sub(swap, source)
    try:
        html = mjml.mjml2html(protected, fonts={})
    except ValueError as exc:
        raise LayoutError(f"MJML: {exc}") from None
    missing = [i for i in range(len(saved)) if f"nljinja{nonce}x{i}x" not in html]
    if missing:
        raise LayoutError(f"MJML dropped {saved[missing[0]]!r}: put template tags inside "
                          "<mj-text>, <mj-raw> or an attribute value")
    return re.sub(rf"nljinja{nonce}x(\d+)x", lambda m: saved[int(m.group(1))], html)


def compile_source(source_format: LayoutFormat, source: str) -> str:
    """The HTML campaigns are wrapped in, for a source as written; raise LayoutError."""
    if len(source) > MAX_SOURCE:
        raise LayoutError(f"source: at most {MAX_SOURCE:,} characters")
    if "\x00" in source:
        raise LayoutError("source: NUL characters are not allowed")
    return compile_mjml(source) if source_format is LayoutFormat.mjml else source


def check(html: str, samples: Sequence[compose.Recipient] = (),
          limits: compose.Limits | None = None) -> None:
    """THE layout rule (compose.check_layout), as a LayoutError."""
    try:
        compose.check_layout("layout", html, samples, limits)
    except compose.TemplateProblem as exc:
        raise LayoutError(str(exc)) from None


# --- the library -----------------------------------------------------------------------------------


def for_list(session: Session, list_id: int) -> list[Layout]:
    """A list's layouts, the default first, then by name."""
    return list(session.scalars(select(Layout).where(Layout.list_id == list_id)
                                .order_by(Layout.is_default.desc(), Layout.name)))


def for_lists(session: Session, list_ids: Sequence[int]) -> list[Layout]:
    """The layouts of several lists (the campaign form's choice), by list and name."""
    return list(session.scalars(select(Layout).where(Layout.list_id.in_(list_ids))
                                .order_by(Layout.list_id, Layout.name)))


def save(session: Session, *, mailing_list: MailingList, name: str, source_format: str,
         source: str, now: datetime, actor: str, samples: Sequence[compose.Recipient] = (),
         limits: compose.Limits | None = None, make_default: bool = False,
         layout: Layout | None = None) -> Layout:
    """Create (`layout` None) or change a layout: compile, check, store; raise LayoutError.

    `samples` are real subscribers of the list (readers.sample_readers): the layout is trial-
    rendered for them too, as a campaign is.
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise LayoutError(f"name: give one, at most {MAX_NAME} characters")
    if CONTROL.search(name):
        raise LayoutError("name: no control characters (line breaks, tabs, NUL)")
    try:
        fmt = LayoutFormat(source_format)
    except ValueError:
        raise LayoutError("format: must be html or mjml") from None
    taken = select(Layout.id).where(Layout.list_id == mailing_list.id, Layout.name == name)
    if layout is not None:
        taken = taken.where(Layout.id != layout.id)
    # (The unique constraint stays the last word should two saves race.)
    if session.scalar(taken.limit(1)) is not None:
        raise LayoutError(f"name: {mailing_list.name} already has a layout named {name!r}")
    html = compile_source(fmt, source)
    check(html, samples, limits)
    # A list's first layout is its default: that is what adding one is for.
    first = layout is None and session.scalar(
        select(Layout.id).where(Layout.list_id == mailing_list.id).limit(1)) is None
    if layout is None:
        layout = Layout(list_id=mailing_list.id, is_default=False)
        session.add(layout)
    layout.name, layout.source_format, layout.source, layout.html = name, fmt, source, html
    layout.updated_at, layout.updated_by = now, actor
    session.flush()
    if make_default or first:
        set_default(session, layout)
    return layout


def set_default(session: Session, layout: Layout) -> None:
    """Make `layout` its list's default (the one before it stops being one)."""
    session.execute(update(Layout).where(Layout.list_id == layout.list_id, Layout.is_default,
                                         Layout.id != layout.id)
                    .values(is_default=False).execution_options(synchronize_session="fetch"))
    layout.is_default = True
    session.flush()


def delete(session: Session, layout: Layout) -> None:
    """Remove a layout no unsent campaign uses; raise LayoutError otherwise."""
    users = session.scalars(select(Campaign.name).where(Campaign.layout_id == layout.id,
                                                        Campaign.status.in_(UNSENT))
                            .limit(3)).all()
    if users:
        raise LayoutError(f"campaigns still to be sent use it: {', '.join(users)}")
    session.delete(layout)
    session.flush()


# --- which layout a campaign is sent in ----------------------------------------------------------


def html_for(session: Session, layout_id: int | None, mailing_list: MailingList) -> str | None:
    """The layout HTML a campaign that chose `layout_id` is wrapped in on `mailing_list`
    (None: the built-in)."""
    if layout_id is not None:
        chosen = session.get(Layout, layout_id)
        if chosen is not None and chosen.list_id == mailing_list.id:
            return chosen.html
    return session.scalar(select(Layout.html).where(Layout.list_id == mailing_list.id,
                                                    Layout.is_default))


def chosen_for(session: Session, layout_id: int | None, list_ids: Sequence[int]) -> int | None:
    """A campaign's layout choice, checked: it must belong to one of the campaign's lists."""
    if layout_id is None:
        return None
    layout = session.get(Layout, layout_id)
    if layout is None or layout.list_id not in list_ids:
        raise LayoutError("the layout must belong to one of the campaign's lists")
    return layout.id
