"""One pass over the reply mailbox: fetch -> classify -> handle (one transaction) -> move.

The move happens only after the commit. If the process dies in between, the message is still
waiting on the next pass; its key (Message-ID and the digest of its bytes) is then found
recorded, so nothing is done twice and the message is just moved. A message that cannot be
handled is recorded as `human` with the reason; if even that fails it stays where it is for the
next pass. Nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.inbound.classify import Kind, classify
from newsletter.inbound.handle import clean, find, handle
from newsletter.inbound.mailbox import open_source
from newsletter.models import InboundMessage, InboundStatus, utcnow

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    """What one pass did, by outcome."""

    seen: int = 0
    handled: int = 0
    duplicates: int = 0
    needs_human: int = 0
    left: int = 0  # could not be recorded: stays in the mailbox for the next pass
    verdicts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for logs and the CLI."""
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.verdicts.items()))
        return (f"{self.seen} message(s): {self.handled} handled, {self.duplicates} seen before, "
                f"{self.needs_human} for a person, {self.left} left" + (f" ({kinds})" if kinds else ""))


def poll(session: Session, config: Mapping, *, clock: Callable[[], datetime] = utcnow,
         source=None) -> PollResult:
    """Process every waiting message once; returns counts."""
    result = PollResult()
    with source or open_source(dict(config)) as box:
        for item in box.fetch():
            result.seen += 1
            folder = process(session, config, item.raw, clock(), size=item.size, result=result)
            if folder is None:
                result.left += 1
                continue
            box.move(item.ref, folder)
    return result


def process(session: Session, config: Mapping, raw: bytes, now: datetime, *,
            size: int | None = None, result: PollResult | None = None) -> str | None:
    """Classify and handle one message and commit; return the folder it belongs in."""
    result = result or PollResult()
    max_bytes = config.get("NEWSLETTER_INBOUND_MAX_BYTES", 25 * 1024 * 1024)
    verdict = classify(raw, max_bytes=max_bytes, size=size)
    try:
        outcome = handle(session, raw, verdict, config=config, now=now)
        session.commit()
        row = outcome.message
    except Exception as exc:  # noqa: BLE001 - one bad message must not stop the pass
        session.rollback()
        log.exception("handling inbound message %s failed", verdict.message_key)
        row = _record_failure(session, raw, verdict, exc, now)
        if row is None:
            return None
        outcome = None
    if outcome is not None and outcome.duplicate:
        result.duplicates += 1
    else:
        result.handled += 1
        result.verdicts[row.verdict] = result.verdicts.get(row.verdict, 0) + 1
    if row.status is InboundStatus.needs_human:
        result.needs_human += 1
        return config.get("NEWSLETTER_INBOUND_HUMAN_FOLDER", "NeedsHuman")
    return config.get("NEWSLETTER_INBOUND_DONE_FOLDER", "Processed")


def _record_failure(session: Session, raw: bytes, verdict, exc: Exception,
                    now: datetime) -> InboundMessage | None:
    """Keep the message for a person when acting on it failed."""
    try:
        row = find(session, verdict)
        if row is not None:
            return row
        row = InboundMessage(
            message_key=clean(verdict.message_key)[:255], raw_digest=verdict.digest,
            received_at=now,
            sender=clean(verdict.sender)[:254], subject=clean(verdict.subject),
            verdict=Kind.human.value,
            reasons=[clean(r) for r in verdict.reasons] + [clean(
                f"classified {verdict.kind.value}, but acting failed: "
                f"{type(exc).__name__}: {str(exc)[:200]}")],
            action="error: a person decides", status=InboundStatus.needs_human, raw=raw,
        )
        session.add(row)
        session.commit()
        return row
    except Exception:  # noqa: BLE001 - the database itself is failing: try again next pass
        session.rollback()
        log.exception("could not record inbound message %s", verdict.message_key)
        return None
