"""CSV import of subscribers into one list: streamed, batched, idempotent.

The file is read row by row (csv over a text stream) and committed every `batch_size` rows with
the session emptied after each commit, so a million rows need no more memory than a thousand.
A bad row is reported with its line number and the import goes on. Re-running the same file
changes nothing: anyone already on the list (in any state, including "left") is left alone; an
import must never bring back somebody who unsubscribed.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import subscriptions, suppression
from newsletter.models import (
    ConsentEvent,
    ConsentMethod,
    MailingList,
    OutboundMail,
    Subscriber,
    Subscription,
    Suppression,
)

CONSENT_BASES = ("double-opt-in", "existing")
_IMPORTED = (Subscriber, Subscription, ConsentEvent, OutboundMail, MailingList, Suppression)
MAX_KEPT_ERRORS = 1000  # the report keeps the first ones; `on_error` sees every one


class ImportFormatError(ValueError):
    """The file as a whole cannot be imported (no email column, not CSV)."""


@dataclass
class ImportReport:
    """What an import did (or, with dry_run, would do)."""

    rows: int = 0
    subscribed: int = 0  # active now (consent basis "existing", or a single opt-in list)
    pending: int = 0  # waiting for the confirmation mail
    unchanged: int = 0  # already on the list, or twice in the file
    suppressed: int = 0  # on the suppression list: skipped silently
    failed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    mails_queued: int = 0
    dry_run: bool = False


def import_csv(session: Session, stream: TextIO, list_id: int, *, consent_basis: str, now: datetime,
               config: Mapping, dry_run: bool = False, batch_size: int = 500, source: str = "",
               on_error: Callable[[int, str], None] | None = None) -> ImportReport:
    """Import rows with an `email` column (optional `name`, `country`) into the list."""
    if consent_basis not in CONSENT_BASES:
        raise ImportFormatError(f"consent basis must be one of {', '.join(CONSENT_BASES)}")
    report = ImportReport(dry_run=dry_run)
    reader = csv.reader(stream)
    try:
        columns = _columns(next(reader, None))
    except csv.Error as exc:
        raise ImportFormatError(f"the first line is not CSV: {exc}") from None
    wording = (f"Imported{' from ' + source if source else ''}: "
               + ("consent given before import (existing)" if consent_basis == "existing"
                  else "a confirmation mail asks for consent (double opt-in)"))
    mailing_list = _load_list(session, list_id)
    in_batch, last_line = 0, reader.line_num

    def bad_row(line: int, message: str) -> None:
        report.failed += 1
        if len(report.errors) < MAX_KEPT_ERRORS:
            report.errors.append((line, message))
        if on_error is not None:
            on_error(line, message)

    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a field over the size limit, say: the reader resumes after it
            report.rows += 1
            bad_row(last_line + 1, f"not readable as CSV: {exc}")
            last_line = reader.line_num
            continue
        # A quoted field may span lines: report the line the row starts on.
        line, last_line = last_line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        report.rows += 1
        try:
            _import_row(session, row, columns, mailing_list, consent_basis, wording, now, config,
                        report)
        except subscriptions.SubscribeError as exc:
            bad_row(line, str(exc))
        in_batch += 1
        if in_batch >= batch_size:
            _end_batch(session, dry_run)
            mailing_list, in_batch = _load_list(session, list_id), 0
    _end_batch(session, dry_run)
    return report


def _columns(header: list[str] | None) -> dict[str, int]:
    names = [h.strip().lower().lstrip("\ufeff") for h in header or []]
    if "email" not in names:
        raise ImportFormatError("the first line must name the columns, one of them 'email'")
    return {name: names.index(name) for name in ("email", "name", "country") if name in names}


def _load_list(session: Session, list_id: int) -> MailingList:
    mailing_list = session.get(MailingList, list_id)
    if mailing_list is None:
        raise ImportFormatError(f"no list with id {list_id}")
    return mailing_list


def _end_batch(session: Session, dry_run: bool) -> None:
    if dry_run:
        session.rollback()
    else:
        session.commit()
    # Keep the identity map from growing with the file; only our own rows, so the caller's
    # objects (the logged-in admin, say) stay attached.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, _IMPORTED):
            session.expunge(obj)


def _cell(row: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    return row[index] if index is not None and index < len(row) else ""


def _import_row(session: Session, row: list[str], columns: dict[str, int],
                mailing_list: MailingList, consent_basis: str, wording: str, now: datetime,
                config: Mapping, report: ImportReport) -> None:
    email = subscriptions.normalise_email(_cell(row, columns, "email"))
    name = subscriptions.clean_text(_cell(row, columns, "name"), "name")
    country = subscriptions.clean_country(_cell(row, columns, "country"))
    if _already_on_list(session, email, mailing_list.id):
        report.unchanged += 1
        return
    if suppression.is_suppressed(session, config["NEWSLETTER_SUPPRESSION_KEY"], email):
        report.suppressed += 1
        return
    outcome = subscriptions.subscribe(session, subscriptions.SubscribeRequest(
        email=email, lists=[mailing_list], method=ConsentMethod.import_, name=name, country=country,
        wording=wording, existing_consent=consent_basis == "existing", send_welcome=False,
    ), now=now, config=config)
    report.subscribed += len(outcome.confirmed)
    report.pending += len(outcome.pending)
    report.mails_queued += len(outcome.mails)
    session.flush()


def _already_on_list(session: Session, email: str, list_id: int) -> bool:
    return session.scalar(
        select(Subscription.id).join(Subscriber)
        .where(Subscriber.email == email, Subscription.list_id == list_id)
    ) is not None


def iter_errors(report: ImportReport) -> Iterable[str]:
    """The report's kept errors as printable lines."""
    for line, message in report.errors:
        yield f"line {line}: {message}"
