"""Leader election for the scheduler: exactly one active scheduler per deployment.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own. When
the leader process dies its connection closes and the lock is released at once; if its whole
machine vanishes, the TCP keepalives set on that connection make the server drop it within about
half a minute. Standbys try to take the lock every few seconds, so one of them takes over well
within a minute. On SQLite there is one process, which is always the leader.
"""

from __future__ import annotations

import logging

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# Any constant shared by every process of a deployment; the ASCII of "newslttr".
LOCK_KEY = 0x6E6577736C747472


class LeaderLock:
    """Try, hold and check the scheduler's advisory lock."""

    def __init__(self, url: URL | str):
        self.url = url
        self.is_postgresql = str(url).startswith("postgresql")
        self._conn: Connection | None = None
        self._engine = None

    @property
    def held(self) -> bool:
        """True while this process is the leader."""
        return self._conn is not None or not self.is_postgresql

    def try_acquire(self) -> bool:
        """Become the leader if nobody else is; True if this process leads now."""
        if not self.is_postgresql or self._conn is not None:
            return True
        if self._engine is None:
            self._engine = create_engine(self.url, poolclass=NullPool, connect_args={
                "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
                "keepalives_count": 3})
        try:
            conn = self._engine.connect()
            conn.execution_options(isolation_level="AUTOCOMMIT")
            # The server's side of the keepalive: notice a vanished leader in ~25 s, not 2 h.
            conn.execute(text("SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5;"
                              " SET tcp_keepalives_count = 3"))
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                               {"key": LOCK_KEY}).scalar()
        except DBAPIError:
            log.exception("leader election: database not reachable")
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("this process is now the active scheduler")
        return True

    def still_held(self) -> bool:
        """Check the leader's connection is alive (and so the lock still ours)."""
        if not self.is_postgresql:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except DBAPIError:
            log.warning("lost the scheduler lock (database connection dropped)")
            self._drop()
            return False

    def release(self) -> None:
        """Step down (the next standby takes over)."""
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            except DBAPIError:
                pass
            self._drop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _drop(self) -> None:
        try:
            self._conn.close()
        except DBAPIError:
            pass
        self._conn = None
