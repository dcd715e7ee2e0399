"""Proof of consent: every grant and withdrawal appends a ConsentEvent (never updated).

Also THE rule of consent to a purpose (a new use of data, DESIGN.md 4 "Purposes"), as SQL:
`effective(rule)` is what dispatch and the worker add to eligibility for a campaign with a
purpose, and what the preference centre and the purpose page read for one person, so the three
can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, false, func, or_, select, true
from sqlalchemy.orm import Session

from newsletter.models import ConsentEvent, ConsentMethod, PolicyVersion, Purpose, Subscriber

OPT_IN, OPT_OUT = "opt-in", "opt-out"  # a purpose's mode for one subscriber


def newsletter_purpose(slug: str) -> str:
    """The consent purpose of receiving one list."""
    return f"newsletter:{slug}"


def purpose_consent(slug: str) -> str:
    """The consent purpose of one use of data (ConsentEvent.purpose)."""
    return f"purpose:{slug}"


@dataclass(frozen=True)
class PurposeRule:
    """What the consent rule needs to know of a purpose (hashable: the worker caches the SQL
    built from it). A purpose is never edited, so a cached rule never goes stale."""

    purpose_id: int
    consent_purpose: str
    opt_in_countries: tuple[str, ...]

    @classmethod
    def of(cls, purpose: Purpose) -> PurposeRule:
        """The rule of a stored purpose."""
        return cls(purpose.id, purpose_consent(purpose.slug),
                   tuple(sorted(purpose.opt_in_countries or ())))


def opt_in(rule: PurposeRule) -> ColumnElement[bool]:
    """The subscriber must opt in: their country is in the purpose's opt-in set, or unknown."""
    unknown = or_(Subscriber.country.is_(None), Subscriber.country == "")
    if not rule.opt_in_countries:
        return unknown
    return or_(unknown, Subscriber.country.in_(rule.opt_in_countries))


def latest_choice(rule: PurposeRule):
    """The subscriber's last grant (true) or withdrawal (false) for the purpose; NULL: none.
    Events are append-only, so the highest id is the latest; ix_consent_event_subscriber_id
    keeps this to one person's few events."""
    return (select(ConsentEvent.granted)
            .where(ConsentEvent.subscriber_id == Subscriber.id,
                   ConsentEvent.purpose == rule.consent_purpose)
            .order_by(ConsentEvent.id.desc()).limit(1).scalar_subquery())


def effective(rule: PurposeRule) -> ColumnElement[bool]:
    """THE rule: consent counts where it was granted (opt-in countries and unknown), or where it
    was not withdrawn (everywhere else)."""
    choice = latest_choice(rule)
    return case((opt_in(rule), func.coalesce(choice, false())),
                else_=func.coalesce(choice, true()))


def current_policy_version_id(session: Session, now: datetime) -> int | None:
    """The policy version in force at `now`, if any was published."""
    return session.scalar(
        select(PolicyVersion.id)
        .where(PolicyVersion.effective_at <= now)
        .order_by(PolicyVersion.effective_at.desc(), PolicyVersion.id.desc())
        .limit(1)
    )


def record(
    session: Session,
    subscriber: Subscriber,
    *,
    purpose: str,
    granted: bool,
    method: ConsentMethod,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
    wording: str = "",
) -> ConsentEvent:
    """Append one consent event, stamped with the policy version in force."""
    event = ConsentEvent(
        subscriber_id=subscriber.id,
        purpose=purpose,
        granted=granted,
        method=method,
        at=now,
        ip=ip,
        user_agent=(user_agent or "")[:512] or None,
        wording=wording,
        policy_version_id=current_policy_version_id(session, now),
    )
    session.add(event)
    return event
