"""The audit trail: who did what to whose data (DESIGN.md section 6: every action on personal
data leaves a row), sealed into a hash chain so that an edit shows.

Domain functions write their own rows through `record()`, in the caller's transaction, so an
action and its audit row commit together or not at all; views, API and CLI only say who the
actor is ("admin:alice@example.org", "api:crm-sync", "cli", "system", "subscriber", "link").
Where a staff action came from (the client IP, or "cli:user@host") rides on the session:
the admin and API blueprints and the CLI group call `acting_from()` once, and every row that
session writes carries it in `origin`, so no domain function needs another parameter.

Rows are chained after they commit, not at INSERT: writers in concurrent transactions cannot
see each other's last row, so chaining at insert would fork the chain. `seal()` (a scheduler
job every minute, and the first step of `verify()`) gives each committed, unsealed row, in id
order, the next `seq`, the previous row's hash and its own:

    content_digest = HMAC(key, canonical JSON of {detail, note})       the personal part
    hash = sha256(prev_hash + canonical JSON of {id, seq, at, actor, action,
                  subject_type, subject_id, content_digest[, origin]})

(`origin` joins the JSON only when set, so rows sealed before the column existed still verify.)

The personal part enters the chain only as a keyed digest, so erasure can redact `detail` and
`note` without breaking the links: the chain still proves who did what, when, to which subject.
A row whose detail no longer matches its digest verifies only if a later, intact row lists it
under `redacted_audit_rows` (erasure.py writes that on its `privacy.erase` row).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, String, cast, func, or_, select, text
from sqlalchemy.orm import Session

from newsletter import spreadsheet
from newsletter.models import AuditEvent, PrivacyRequest, Subscriber

GENESIS = "0" * 64  # the prev_hash of the first row
REDACTED_KEY = "redacted_audit_rows"  # detail key of a row that vouches for redactions
_SEAL_LOCK = 0x61756474  # pg_advisory_xact_lock id: one sealer at a time ("audt")
ORIGIN = "audit_origin"  # the session.info key acting_from() sets


def acting_from(session: Session, origin: str | None) -> None:
    """Say where this session's actions come from; every row it records carries it."""
    session.info[ORIGIN] = origin[:254] if origin else None


def record(session: Session, *, actor: str, action: str, subject_type: str,
           subject_id: int | str | None, now: datetime, detail: dict | None = None,
           note: str | None = None) -> AuditEvent:
    """Add one audit row (flushed with the caller's work), from the session's origin."""
    row = AuditEvent(at=now, actor=actor, action=action, subject_type=subject_type,
                     subject_id=None if subject_id is None else str(subject_id),
                     detail=detail or {}, note=note, origin=session.info.get(ORIGIN))
    session.add(row)
    return row


def viewed(session: Session, *, actor: str, subject_type: str, subject_id: int | str,
           now: datetime, what: str = "view") -> AuditEvent:
    """A look at personal data (a subscriber page, raw inbound mail): reads are actions too."""
    return record(session, actor=actor, action=f"{subject_type}.{what}",
                  subject_type=subject_type, subject_id=subject_id, now=now)


# -- the chain ------------------------------------------------------------------------------

def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def content_digest(key: str, row: AuditEvent) -> str:
    """The keyed digest of a row's personal part (detail and note)."""
    message = b"audit-content\0" + _canonical({"detail": row.detail, "note": row.note})
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def row_hash(row: AuditEvent) -> str:
    """sha256 of the previous hash and the row's sealed content."""
    content = {"id": row.id, "seq": row.seq, "at": row.at.astimezone(UTC).isoformat(),
               "actor": row.actor, "action": row.action, "subject_type": row.subject_type,
               "subject_id": row.subject_id, "content_digest": row.content_digest}
    if row.origin is not None:
        content["origin"] = row.origin
    return hashlib.sha256(row.prev_hash.encode() + _canonical(content)).hexdigest()


def seal(session: Session, key: str) -> int:
    """Chain every unsealed row, in id order, after the current head; the number sealed. The
    caller commits. Sealing again without new rows changes nothing."""
    if session.get_bind().dialect.name == "postgresql":
        # Two sealers would both read the same head; the unique seq would make the second fail
        # anyway, but waiting is kinder than an error every minute.
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SEAL_LOCK})
    head = session.execute(select(AuditEvent.seq, AuditEvent.hash)
                           .where(AuditEvent.seq.is_not(None))
                           .order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev = (head.seq, head.hash) if head else (0, GENESIS)
    rows = session.scalars(select(AuditEvent).where(AuditEvent.seq.is_(None))
                           .order_by(AuditEvent.id)).all()
    for row in rows:
        seq += 1
        row.seq, row.prev_hash, row.content_digest = seq, prev, content_digest(key, row)
        row.hash = prev = row_hash(row)
    session.flush()
    return len(rows)


@dataclass
class Verification:
    """What verify() found: the first broken row (None when the chain holds) and the head."""

    rows: int
    problem: str | None
    head_seq: int
    head_hash: str


def verify(session: Session, key: str) -> Verification:
    """Seal, then recompute the whole chain; stop at the first row that does not match."""
    seal(session, key)
    rows = session.scalars(select(AuditEvent).where(AuditEvent.seq.is_not(None))
                           .order_by(AuditEvent.seq)).all()
    intact = {row.id for row in rows if row.content_digest == content_digest(key, row)}
    vouched: dict[int, int] = {}  # redacted row id -> seq of the intact row that says so
    for row in rows:
        if row.id in intact:
            for rid in (row.detail or {}).get(REDACTED_KEY, []):
                vouched.setdefault(rid, row.seq)
    prev = GENESIS
    for count, row in enumerate(rows, 1):
        if row.prev_hash != prev:
            return Verification(count, f"row {row.id}: previous hash does not match",
                                row.seq, row.hash)
        redacted_later = vouched.get(row.id, 0) > row.seq
        if (row.id not in intact and not redacted_later) or row_hash(row) != row.hash:
            return Verification(count, f"row {row.id}: content changed", row.seq, row.hash)
        prev = row.hash
    last = rows[-1] if rows else None
    return Verification(len(rows), None, last.seq if last else 0, last.hash if last else GENESIS)


# -- reading the log (the privacy officer's view) ---------------------------------------------

@dataclass(frozen=True)
class AuditFilter:
    """What the officer asked for; empty fields do not filter. Dates are whole UTC days."""

    actor: str = ""
    subject_type: str = ""
    subject_id: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None
    subject_hash: str = ""  # the keyed hash of an address (hex, at least its first 16 digits)

    def query(self) -> Select:
        """The filtered rows, newest first."""
        query = select(AuditEvent)
        if self.subject_hash:
            query = query.where(about_hash(self.subject_hash.lower()))
        if self.actor:
            query = query.where(AuditEvent.actor.contains(self.actor, autoescape=True))
        if self.subject_type:
            query = query.where(AuditEvent.subject_type == self.subject_type)
        if self.subject_id:
            query = query.where(AuditEvent.subject_id == self.subject_id)
        if self.action:  # "privacy." finds every privacy action
            query = query.where(AuditEvent.action.startswith(self.action, autoescape=True))
        if self.since:
            query = query.where(AuditEvent.at >= datetime.combine(self.since, time(), UTC))
        if self.until:
            end = datetime.combine(self.until + timedelta(days=1), time(), UTC)
            query = query.where(AuditEvent.at < end)
        return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def about_hash(digest: str):
    """Rows about the person whose address has this keyed hash: rows naming the hash (erasure,
    export, suppression) and rows about their subscriber rows (tombstones too) or requests."""
    subscribers = select(cast(Subscriber.id, String)).where(Subscriber.email_hash.startswith(
        digest, autoescape=True))
    requests = select(cast(PrivacyRequest.id, String)).where(
        PrivacyRequest.email_hash.startswith(digest, autoescape=True))
    return or_(
        AuditEvent.subject_type.in_(["email_hash", "suppression"])
        & (AuditEvent.subject_id == digest[:16]),
        (AuditEvent.subject_type == "subscriber") & AuditEvent.subject_id.in_(subscribers),
        (AuditEvent.subject_type == "privacy_request") & AuditEvent.subject_id.in_(requests),
    )


def page(session: Session, where: AuditFilter, number: int, size: int = 50
         ) -> tuple[list[AuditEvent], int]:
    """One page of the filtered rows and the number of rows in all."""
    total = session.scalar(select(func.count()).select_from(where.query().order_by(None)
                                                              .subquery()))
    rows = session.scalars(where.query().limit(size).offset((max(number, 1) - 1) * size)).all()
    return list(rows), total or 0


COLUMNS = ("id", "at", "actor", "origin", "action", "subject_type", "subject_id", "detail",
           "note", "seq", "hash")


_cell = spreadsheet.cell  # a spreadsheet must not run a cell as a formula


def export_csv(session: Session, where: AuditFilter, *, actor: str, now: datetime
               ) -> Iterator[str]:
    """The filtered rows as CSV lines; the export itself is audited (the log holds personal
    data). The caller commits before streaming."""
    rows = session.scalars(where.query()).all()
    record(session, actor=actor, action="audit.export", subject_type="audit_event",
           subject_id=None, now=now,
           detail={"filter": {k: str(v) for k, v in asdict(where).items() if v},
                   "rows": len(rows)})
    lines = []
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer).writerow([_cell(row.id), _cell(row.at.isoformat()), *(
            _cell(getattr(row, c))
            for c in ("actor", "origin", "action", "subject_type", "subject_id")),
            _cell(json.dumps(row.detail, sort_keys=True)), _cell(row.note), _cell(row.seq),
            _cell(row.hash)])
        lines.append(buffer.getvalue())
    header = io.StringIO()
    csv.writer(header).writerow(COLUMNS)
    return iter([header.getvalue(), *lines])
