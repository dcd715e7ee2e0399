"""Proof of consent: every grant and withdrawal appends a ConsentEvent (never updated).

Policy versions and change notices also live here (added with the policy issue).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import ConsentEvent, ConsentMethod, PolicyVersion, Subscriber


def newsletter_purpose(slug: str) -> str:
    """The consent purpose of receiving one list."""
    return f"newsletter:{slug}"


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
