"""The global send rate: messages per second and per hour, shared by every worker process.

The counters live in the database (SendWindow rows keyed by window), so any number of workers on
any number of machines share one budget without another moving part. A worker takes permits in
small chunks with one upsert per window (`used = used + n` only while it stays under the limit),
so the database sees a few statements per second, not one per message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.models import SendWindow


class SendRateLimiter:
    """Per-second and per-hour budgets (0 = unlimited) for all workers together."""

    def __init__(self, per_second: float = 0, per_hour: int = 0):
        self.per_second = int(per_second) if per_second >= 1 else (1 if per_second > 0 else 0)
        self.per_hour = per_hour
        self.chunk = max(1, self.per_second // 10) if self.per_second else 0
        self._window: str | None = None
        self._permits = 0

    @property
    def unlimited(self) -> bool:
        """No limit configured: acquire() never waits."""
        return not self.per_second and not self.per_hour

    def acquire(self, session: Session, now: datetime) -> float:
        """Take one permit: 0.0 when granted, else the seconds to wait before asking again."""
        if self.unlimited:
            return 0.0
        second = int(now.timestamp())
        window = f"s:{second}"
        if self._window == window and self._permits > 0:
            self._permits -= 1
            return 0.0
        want = self.chunk or 1
        if self.per_second and not self._take(session, window, want, self.per_second,
                                              now + timedelta(seconds=5)):
            want = 1
            if not self._take(session, window, 1, self.per_second, now + timedelta(seconds=5)):
                session.commit()
                return max(0.01, second + 1 - now.timestamp())
        if self.per_hour:
            hour = second // 3600
            if not self._take(session, f"h:{hour}", want, self.per_hour,
                              now + timedelta(hours=2)):
                session.rollback()  # gives the per-second permits back as well
                return min(60.0, (hour + 1) * 3600 - now.timestamp())
        session.commit()
        self._window, self._permits = window, want - 1
        return 0.0

    def _take(self, session: Session, key: str, n: int, limit: int, expires: datetime) -> bool:
        insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
                  else sqlite.insert)(SendWindow)
        statement = insert.values(key=key, used=n, expires_at=expires)
        statement = statement.on_conflict_do_update(
            index_elements=["key"], set_={"used": SendWindow.used + n},
            where=SendWindow.used + n <= limit,
        ).returning(SendWindow.used)
        if n > limit:
            return False
        return session.execute(statement).first() is not None


def purge_windows(session: Session, now: datetime) -> int:
    """Forget windows that are over."""
    count = session.execute(delete(SendWindow).where(SendWindow.expires_at < now)).rowcount
    session.commit()
    return count or 0
