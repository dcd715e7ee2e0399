"""Which subscribers the admin's subscriber page shows: THE filter of that page, shared by the
listing and by "select all matching" of the bulk actions (bulk.py), so both always mean the same
people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select

from newsletter.models import (
    MAX_ID,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.sending import eligibility

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class SubscriberFilter:
    """A text to find in the address or name, a list, a status (on the list when one is
    chosen; overall otherwise, where "suppressed" and "active" follow eligibility.py)."""

    q: str = ""
    list_id: int | None = None
    status: str = ""

    @classmethod
    def of(cls, q: str | None, list_id: int | None, status: str | None) -> SubscriberFilter:
        """A filter from what a form sent, cleaned (control characters, lengths, id range)."""
        q = _CONTROL.sub("", q or "").strip()[:254]
        list_id = list_id if list_id and 0 < list_id <= MAX_ID else None
        return cls(q, list_id, (status or "")[:32])

    def statuses(self) -> list[str]:
        """The statuses this filter may choose from."""
        if self.list_id:
            return [s.value for s in SubscriptionStatus]
        return [s.value for s in SubscriberStatus] + ["suppressed"]

    def query(self) -> Select:
        """SELECT Subscriber ... of the matching people (unordered)."""
        statement = select(Subscriber)
        if self.q:
            pattern = "%" + self.q.lower().replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_") + "%"
            statement = statement.where(or_(Subscriber.email.like(pattern, escape="\\"),
                                            func.lower(Subscriber.name).like(pattern, escape="\\")))
        if self.list_id:
            statement = statement.join(Subscription).where(Subscription.list_id == self.list_id)
            if self.status in {s.value for s in SubscriptionStatus}:
                statement = statement.where(Subscription.status == SubscriptionStatus(self.status))
        elif self.status == "suppressed":
            statement = statement.where(eligibility.suppressed())
        elif self.status == SubscriberStatus.active.value:
            statement = statement.where(eligibility.active())  # a suppressed address is not active
        elif self.status in {s.value for s in SubscriberStatus}:
            statement = statement.where(Subscriber.status == SubscriberStatus(self.status))
        return statement
