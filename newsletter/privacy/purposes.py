"""New uses of personal data ("purposes") and the choice each subscriber makes about them
(DESIGN.md 4, "Purposes").

create -> announce: every active subscriber is mailed once, in their mode (an opt-in link where
their country needs it or is unknown, a notice with an opt-out link elsewhere) -> the person
chooses on the link's page or in the preference centre (a ConsentEvent each) -> a campaign for
the purpose reaches only those with effective consent (privacy/consent.py `effective`, added to
sending/eligibility.py).

A purpose is never edited: the announcement people received must stay true. A new wording is a
new purpose.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import pycountry
from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy import and_, case, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter import links, tokens
from newsletter.i18n import in_language
from newsletter.models import (
    ConsentMethod,
    Purpose,
    PurposeNotice,
    Subscriber,
    UTCDateTime,
)
from newsletter.privacy import audit, consent
from newsletter.privacy.consent import OPT_IN, OPT_OUT, PurposeRule
from newsletter.sending import eligibility, mailer
from newsletter.subscribers.lists import SLUG

ANNOUNCE_BATCH = 500
# Control characters other than line breaks and tabs have no place in text people read (and
# PostgreSQL refuses NUL in a string); the name is one line, so it refuses those too.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n\t\u2028\u2029\x85]")
MAIL_KIND = "purpose-notice"  # OutboundMail.kind of an announcement


class PurposeError(ValueError):
    """A purpose cannot be created or announced as asked; the message says why."""


@dataclass(frozen=True)
class PurposeState:
    """One purpose as one subscriber sees it: their mode and whether consent is in effect."""

    id: int
    slug: str
    name: str
    description: str
    mode: str  # consent.OPT_IN | consent.OPT_OUT
    consenting: bool


# --- creating -----------------------------------------------------------------------------------


def parse_countries(value: str | Iterable[str], label: str = "opt-in countries") -> list[str]:
    """ISO 3166-1 alpha-2 codes from "DE, fr,AT" (or a list), upper case, sorted, each checked.

    >>> parse_countries("de, FR ,de")
    ['DE', 'FR']
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    codes = set()
    for item in items:
        code = str(item).strip().upper()
        if not code:
            continue
        if len(code) != 2 or not code.isalpha() or pycountry.countries.get(alpha_2=code) is None:
            raise PurposeError(f"{label}: {item.strip()!r} is not a two-letter ISO 3166 "
                               "country code (e.g. DE, FR, GB)")
        codes.add(code)
    return sorted(codes)


def default_opt_in_countries(config: Mapping) -> list[str]:
    """The configured default set (NEWSLETTER_PURPOSE_OPT_IN_COUNTRIES)."""
    return parse_countries(config["NEWSLETTER_PURPOSE_OPT_IN_COUNTRIES"],
                           "NEWSLETTER_PURPOSE_OPT_IN_COUNTRIES")


def create(session: Session, *, slug: str, name: str, description: str, now: datetime,
           config: Mapping, actor: str,
           opt_in_countries: str | Iterable[str] | None = None) -> Purpose:
    """Add a purpose (opt-in countries: the configured default unless given); audited."""
    slug = (slug or "").strip().lower()
    if not SLUG.match(slug):
        raise PurposeError(f"slug {slug!r}: use 1-64 lower-case letters, digits and hyphens")
    name, description = (name or "").strip(), (description or "").strip()
    if not name or len(name) > 200 or _CONTROL.search(name) or _LINE_BREAK.search(name):
        raise PurposeError("name: one line of 1-200 characters (it is the subject of the mail)")
    if not description or len(description) > 5000 or _CONTROL.search(description):
        raise PurposeError("description: say in up to 5000 characters, without control "
                           "characters, what the data will be used for (people read it)")
    countries = (default_opt_in_countries(config) if opt_in_countries is None
                 else parse_countries(opt_in_countries))
    if session.scalar(select(Purpose.id).where(Purpose.slug == slug)) is not None:
        raise PurposeError(f"a purpose with the slug {slug!r} exists already; purposes are never "
                           "edited, choose another slug")
    purpose = Purpose(slug=slug, name=name, description=description, opt_in_countries=countries,
                      created_at=now, created_by=actor)
    try:
        with session.begin_nested():  # two creators at once: the unique slug decides
            session.add(purpose)
    except IntegrityError:
        raise PurposeError(f"a purpose with the slug {slug!r} exists already") from None
    audit.record(session, actor=actor, action="purpose.create", subject_type="purpose",
                 subject_id=purpose.id, now=now,
                 detail={"slug": slug, "opt_in_countries": countries})
    return purpose


# --- reading ------------------------------------------------------------------------------------


def all_purposes(session: Session) -> list[Purpose]:
    """Every purpose, oldest first."""
    return list(session.scalars(select(Purpose).order_by(Purpose.id)))


def by_slug(session: Session, slug: str) -> Purpose:
    """The purpose with this slug, or PurposeError."""
    purpose = session.scalar(select(Purpose).where(Purpose.slug == (slug or "").strip().lower()))
    if purpose is None:
        raise PurposeError(f"no purpose {slug!r}")
    return purpose


def stats(session: Session) -> dict[int, dict[str, int]]:
    """Per purpose: told in opt-in mode, in opt-out mode, and active subscribers consenting."""
    result: dict[int, dict[str, int]] = {}
    for purpose in all_purposes(session):
        told = dict(session.execute(select(PurposeNotice.mode, func.count()).where(
            PurposeNotice.purpose_id == purpose.id).group_by(PurposeNotice.mode)).all())
        consenting = session.scalar(select(func.count(Subscriber.id)).where(
            eligibility.active(), consent.effective(PurposeRule.of(purpose)))) or 0
        result[purpose.id] = {OPT_IN: told.get(OPT_IN, 0), OPT_OUT: told.get(OPT_OUT, 0),
                              "consenting": consenting}
    return result


def states(session: Session, subscriber: Subscriber) -> list[PurposeState]:
    """Every purpose with this subscriber's mode and consent (the preference centre)."""
    return [state(session, subscriber, purpose) for purpose in all_purposes(session)]


def state(session: Session, subscriber: Subscriber, purpose: Purpose) -> PurposeState:
    """One purpose for one subscriber, read with THE rule (consent.effective) in SQL."""
    session.flush()
    rule = PurposeRule.of(purpose)
    must_opt_in, consenting = session.execute(
        select(consent.opt_in(rule), consent.effective(rule))
        .where(Subscriber.id == subscriber.id)).one()
    return PurposeState(purpose.id, purpose.slug, purpose.name, purpose.description,
                        OPT_IN if must_opt_in else OPT_OUT, bool(consenting))


# --- choosing -----------------------------------------------------------------------------------


def wording(purpose: Purpose, granted: bool) -> str:
    """The sentence next to the button, recorded verbatim as proof of the choice: in the
    language of the page showing it (the same request records it)."""
    if granted:
        return _("Yes, you may use my data for: %(name)s. %(description)s", name=purpose.name,
                 description=purpose.description)
    return _("No, do not use my data for: %(name)s.", name=purpose.name)


def choose(session: Session, subscriber: Subscriber, purpose: Purpose, *, granted: bool,
           method: ConsentMethod, now: datetime, ip: str | None = None,
           user_agent: str | None = None) -> bool:
    """Grant or withdraw consent to a purpose; a ConsentEvent when it changes anything.
    Returns whether it did."""
    if state(session, subscriber, purpose).consenting == granted:
        return False
    consent.record(session, subscriber, purpose=consent.purpose_consent(purpose.slug),
                   granted=granted, method=method, now=now, ip=ip, user_agent=user_agent,
                   wording=wording(purpose, granted))
    session.flush()
    return True


def read_choice_token(session: Session, config: Mapping, token: str) -> tuple[Subscriber, Purpose]:
    """The subscriber and purpose of a live purpose link; TokenError if bad, foreign or revoked."""
    payload = tokens.load(config["SECRET_KEY"], tokens.PURPOSE_CHOICE, token)
    try:
        subscriber_id, purpose_id, version = (int(payload[0]), int(payload[1]), int(payload[2]))
    except (TypeError, ValueError, IndexError, KeyError):
        raise tokens.TokenError("This link is not valid.") from None
    subscriber = session.get(Subscriber, subscriber_id)
    purpose = session.get(Purpose, purpose_id)
    if subscriber is None or purpose is None or subscriber.token_version != version:
        raise tokens.TokenError("This link is no longer valid. Use the link in a recent mail, "
                                "or your preference centre.")
    return subscriber, purpose


# --- announcing ---------------------------------------------------------------------------------


def announcement(config: Mapping, purpose: Purpose, mode: str, url: str,
                 language: str | None = None) -> tuple[str, str, str]:
    """The mail of one mode as (subject, text, HTML), in `language` (the purpose's own name and
    description stay as the privacy officer wrote them)."""
    name = purpose.name
    with in_language(language):
        if mode == OPT_IN:
            subject = _("May we use your data for %(name)s?", name=name)
            lead = (_("We would like to use your personal data for something new: %(name)s.",
                      name=name),
                    _("We will do so only if you agree. If you do nothing, nothing changes."))
            action = _("Yes, I agree: opt in")
        else:
            subject = _("A new use of your data: %(name)s", name=name)
            lead = (_("We are starting to use your personal data for something new: %(name)s.",
                      name=name),
                    _("If you do not want this, you can opt out now or at any time."))
            action = _("No, thank you: opt out")
        policy_label = _("Our privacy policy")
    policy_url = links.policy_url(config)
    text = (f"{lead[0]}\n\n{purpose.description}\n\n{lead[1]}\n\n{action}:\n{url}\n\n"
            f"{policy_label}: {policy_url}\n")
    html = (f"<p>{escape(lead[0])}</p><p>{escape(purpose.description)}</p>"
            f"<p>{escape(lead[1])}</p><p><a href=\"{escape(url)}\">{escape(action)}</a></p>"
            f"<p><a href=\"{escape(policy_url)}\">{escape(policy_label)}</a></p>")
    return subject, text, html


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(PurposeNotice)


def announce(session: Session, config: Mapping, purpose: Purpose, now: datetime,
             actor: str, *, seconds: float | None = None) -> int:
    """Mail every active subscriber not yet told about the purpose, once, in their mode; returns
    how many were mailed now. A unit of work: commits per batch. From the first announce on,
    `tell_newcomers` (a scheduler job) tells those who become active subscribers later.

    `seconds` is a web request's budget: past it, the call stops after the batch under way and
    the same job tells the rest within minutes (`untold` says how many are left), so a list of
    a million answers at once instead of timing out half-way.
    """
    # Marked first, in its own commit: whatever stops this call (the budget, a killed request),
    # the job then finishes the work. A concurrent announce finds it marked and goes on to
    # wait on our notice rows, never on this row.
    session.execute(update(Purpose).where(Purpose.id == purpose.id,
                                          Purpose.announced_at.is_(None))
                    .values(announced_at=now))
    session.commit()
    deadline = None if seconds is None else time.monotonic() + seconds
    told = _tell_untold(session, config, purpose, now, deadline)
    audit.record(session, actor=actor, action="purpose.announce", subject_type="purpose",
                 subject_id=purpose.id, now=now, detail=told)
    session.commit()
    return told[OPT_IN] + told[OPT_OUT]


def untold(session: Session, purpose: Purpose) -> int:
    """Active subscribers not yet told about the purpose (mailed by the job if announced)."""
    return session.scalar(select(func.count(Subscriber.id)).where(_untold(purpose.id))) or 0


def _untold(purpose_id: int):
    """An active subscriber without a PurposeNotice for the purpose: whom announce still owes."""
    return and_(eligibility.active(),
                ~exists().where(PurposeNotice.purpose_id == purpose_id,
                                PurposeNotice.subscriber_id == Subscriber.id))


def tell_newcomers(session: Session, config: Mapping, now: datetime) -> int:
    """Every announced purpose, told to whoever became an active subscriber since (a sign-up
    after the announcement must hear of it as everybody else did). Returns how many were mailed;
    an audit row per purpose that mailed someone."""
    total = 0
    for purpose in session.scalars(select(Purpose).where(Purpose.announced_at.is_not(None))
                                   .order_by(Purpose.id)).all():
        told = _tell_untold(session, config, purpose, now)
        if told[OPT_IN] or told[OPT_OUT]:
            audit.record(session, actor="scheduler", action="purpose.announce.newcomers",
                         subject_type="purpose", subject_id=purpose.id, now=now, detail=told)
            session.commit()
            total += told[OPT_IN] + told[OPT_OUT]
    return total


def _tell_untold(session: Session, config: Mapping, purpose: Purpose,
                 now: datetime, deadline: float | None = None) -> dict[str, int]:
    """Mail every active subscriber without a PurposeNotice for the purpose; commits per batch,
    and stops after the batch that passes `deadline` (time.monotonic()).

    The PurposeNotice row and the queued mail are written in one transaction, by an INSERT ...
    ON CONFLICT DO NOTHING on (subscriber, purpose) that returns only the rows it added: a
    second run adds none, and a second run at the same moment waits on the first one's
    uncommitted rows (PostgreSQL) or for its write lock (SQLite) and then adds none either.
    The mail goes through the outbox (OutboundMail), which the worker sends at the global rate.
    """
    rule = PurposeRule.of(purpose)
    purpose_id, key = purpose.id, config["NEWSLETTER_SUPPRESSION_KEY"]
    mode = case((consent.opt_in(rule), literal(OPT_IN)), else_=literal(OPT_OUT))
    told = {OPT_IN: 0, OPT_OUT: 0}
    after = 0
    while True:
        untold = list(session.scalars(
            select(Subscriber.id).where(Subscriber.id > after, _untold(purpose_id))
            .order_by(Subscriber.id).limit(ANNOUNCE_BATCH)))
        if not untold:
            break
        after = untold[-1]
        # Inserted in id order, so two concurrent runs wait on each other's rows in the same
        # order and never deadlock.
        rows = select(literal(purpose_id), Subscriber.id, mode, literal(now, UTCDateTime())) \
            .where(Subscriber.id.in_(untold), eligibility.active()).order_by(Subscriber.id)
        added = session.execute(
            _insert(session).from_select(
                ["purpose_id", "subscriber_id", "mode", "notified_at"], rows)
            .on_conflict_do_nothing(index_elements=["subscriber_id", "purpose_id"])
            .returning(PurposeNotice.subscriber_id, PurposeNotice.mode)).all()
        modes = dict(added)
        for subscriber in session.scalars(select(Subscriber).where(Subscriber.id.in_(list(modes)))):
            if eligibility.suppressed_without_hash(session, key, subscriber.email,
                                                   subscriber.email_hash):
                continue
            url = links.purpose_url(config, subscriber.id, purpose_id, subscriber.token_version)
            subject, text, html = announcement(config, purpose, modes[subscriber.id], url,
                                               subscriber.language)
            mailer.queue(session, kind=MAIL_KIND, now=now, mail=mailer.build_message(
                config, to=subscriber.email, subject=subject, text=text, html=html, now=now,
                subscriber_id=subscriber.id))
            told[modes[subscriber.id]] += 1
        session.commit()
        if deadline is not None and time.monotonic() >= deadline:
            break
    return told
