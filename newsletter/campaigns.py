"""Campaign lifecycle: draft, schedule, recurring, dispatch -> queue, pause/resume/cancel.

(Skeleton: filled in by the campaigns issue.)
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.models import MailingList, Subscriber


def queue_welcome(session: Session, subscriber: Subscriber, mailing_list: MailingList,
                  now: datetime) -> None:
    """Queue the list's welcome newsletter for a subscriber who just confirmed (if it has one)."""
    if mailing_list.welcome_campaign_id is None:
        return
    # Implemented with the outbox by the campaigns issue.
