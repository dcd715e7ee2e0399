"""Shared column helpers for the models."""

from __future__ import annotations

import contextlib
import enum
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Enum, TypeDecorator
from sqlalchemy.orm import Session

# Ids are 32-bit integer columns: a larger number names nothing (and PostgreSQL refuses to
# compare it), so routes and schemas bound ids by this.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the one clock the models default to)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC; SQLite returns naive values, so tag them on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware UTC datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def enum_column(enum_cls: type[enum.Enum]) -> Enum:
    """A portable enum column storing the member *values* (short strings), no native PG type."""
    return Enum(
        enum_cls,
        values_callable=lambda members: [m.value for m in members],
        native_enum=False,
        length=32,
        validate_strings=True,
    )


JSONType = JSON


def savepoint(session: Session):
    """A savepoint on PostgreSQL, where concurrent inserts race; nothing on SQLite.

    pysqlite opens its transaction lazily, so a SAVEPOINT issued first would start (and its
    RELEASE commit) a transaction of its own: a later rollback could not undo it. SQLite
    serialises writers anyway, so the race the savepoint guards against cannot happen there.
    """
    if session.get_bind().dialect.name == "sqlite":
        return contextlib.nullcontext()
    return session.begin_nested()
