"""CSV import of subscribers into one list: streamed, batched, idempotent.

The file is read row by row (csv over a text stream) and committed every `batch_size` rows with
the session emptied after each commit, so a million rows need no more memory than a thousand.
A bad row is reported with its line number and the import goes on. Re-running the same file
changes nothing: anyone already on the list (in any state, including "left") is left alone; an
import must never bring back somebody who unsubscribed.
"""

from __future__ import annotations

import csv
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, TextIO

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from newsletter.i18n import LANGUAGES, normalise
from newsletter.models import (
    ConsentEvent,
    ConsentMethod,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    savepoint,
)
from newsletter.privacy import audit, consent
from newsletter.subscribers import (
    attributes,
    csv_encoding,
    import_formats,
    messages,
    subscriptions,
    suppression,
)

CONSENT_BASES = ("double-opt-in", "existing")
MAX_KEPT_ERRORS = 1000  # the report keeps the first ones; `on_error` sees every one
REPLACEMENT = "\ufffd"  # what a byte that does not decode became


class ImportFormatError(ValueError):
    """The file as a whole cannot be imported (no email column, not CSV, unclear encoding)."""


class UnrecognisedColumns(ImportFormatError):
    """No format claims the header row: the columns need mapping (import_formats.mapped)."""


PREVIEW_ROWS = 5


def preview(stream: TextIO, rows: int = PREVIEW_ROWS) -> tuple[list[str], list[list[str]]]:
    """The header and the first `rows` rows, for the mapping step; ImportFormatError when the
    start of the file is not CSV."""
    reader = csv.reader(stream)
    try:
        header = next(reader, None) or []
        first = [row for _, row in zip(range(rows), reader, strict=False)]
    except csv.Error as exc:
        raise ImportFormatError(f"the start of the file is not CSV: {exc}") from None
    if not header:
        raise ImportFormatError("the file is empty")
    return header, first


def open_csv(binary: BinaryIO, encoding: str | None = None) -> TextIO:
    """The uploaded bytes as text: in `encoding`, or the one detected on a bounded sample
    (csv_encoding.py); streamed, never read whole. ImportFormatError when it is not clear."""
    try:
        return csv_encoding.open_text(binary, encoding)
    except csv_encoding.UndecidedEncoding as exc:
        raise ImportFormatError(str(exc)) from None
    except LookupError:
        raise ImportFormatError(f"unknown encoding {encoding!r}") from None


@dataclass
class ImportReport:
    """What an import did (or, with dry_run, would do)."""

    rows: int = 0
    subscribed: int = 0  # active now (consent basis "existing", or a single opt-in list)
    pending: int = 0  # waiting for the confirmation mail
    unchanged: int = 0  # already on the list, or twice in the file
    suppressed: int = 0  # on the suppression list: skipped silently
    skipped: int = 0  # left, bounced or never confirmed in the tool the file comes from
    failed: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    mails_queued: int = 0
    dry_run: bool = False
    encoding: str = ""  # what the file was read as
    format: str = ""  # whose export the header row says it is (import_formats.py)
    attributes: list[str] = field(default_factory=list)  # columns kept as attributes


def import_csv(session: Session, stream: TextIO, list_id: int, *, consent_basis: str, now: datetime,
               config: Mapping, dry_run: bool = False, batch_size: int = 500, source: str = "",
               on_error: Callable[[int, str], None] | None = None,
               actor: str = "system",
               layout: import_formats.Layout | None = None) -> ImportReport:
    """Import rows into the list: our own layout (`email`, optional `name`, `country`) or a
    known tool's export (import_formats.py); any other column becomes an attribute. A `layout`
    given (the columns the marketer mapped: import_formats.mapped) is used instead of the one
    the header row names. The import is audited in the caller's transaction."""
    if consent_basis not in CONSENT_BASES:
        raise ImportFormatError(f"consent basis must be one of {', '.join(CONSENT_BASES)}")
    report = ImportReport(dry_run=dry_run, encoding=getattr(stream, "encoding", None) or "")
    encoding = report.encoding or "text"
    reader = csv.reader(stream)
    try:
        header = next(reader, None) or []
        if layout is None:
            layout = import_formats.detect(header)
        elif layout.width and len(header) != layout.width:
            raise ImportFormatError(f"the columns were mapped for {layout.width} columns, but "
                                    f"the file's first line has {len(header)}")
    except csv.Error as exc:
        raise ImportFormatError(f"the first line is not CSV: {exc}") from None
    except import_formats.UnknownLayout as exc:
        raise UnrecognisedColumns(str(exc)) from None
    report.format = layout.format.name
    report.attributes = [name for _, name in layout.attributes]
    wording = (f"Imported{' from ' + source if source else ''}: "
               + ("consent given before import (existing)" if consent_basis == "existing"
                  else "a confirmation mail asks for consent (double opt-in)"))
    mailing_list = _load_list(session, list_id)
    confirmed = consent_basis == "existing" or not mailing_list.double_opt_in
    batch: list[ImportRow] = []
    last_line = reader.line_num

    def bad_row(line: int, message: str) -> None:
        report.failed += 1
        if len(report.errors) < MAX_KEPT_ERRORS:
            report.errors.append((line, message))
        if on_error is not None:
            on_error(line, message)

    def end_batch() -> None:
        nonlocal mailing_list
        _import_batch(session, batch, mailing_list, confirmed, wording, now, config, report)
        batch.clear()
        _end_batch(session, dry_run)
        mailing_list = _load_list(session, list_id)

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
            if any(REPLACEMENT in cell for cell in row):
                # A byte the encoding does not know (decoded with errors="replace"): never stored.
                raise subscriptions.SubscribeError(
                    f"bytes that are not valid {encoding}; fix this line or save the file as "
                    f"UTF-8", "row")
            if import_formats.skip_reason(layout, row) is not None:
                report.skipped += 1
                continue
            batch.append(_parse_row(line, row, layout))
        except subscriptions.SubscribeError as exc:
            bad_row(line, str(exc))
        if len(batch) >= batch_size:
            end_batch()
    end_batch()
    audit.record(session, actor=actor, action="subscribers.import", subject_type="list",
                 subject_id=list_id, now=now,
                 detail={"rows": report.rows, "dry_run": report.dry_run, "source": source,
                         "format": report.format, "attributes": report.attributes})
    return report


@dataclass(frozen=True)
class ImportRow:
    """One valid row: where it was and what it says."""

    line: int
    email: str
    name: str
    country: str | None
    attributes: dict = field(default_factory=dict)
    language: str | None = None  # of pages and system mail (newsletter/i18n.py)
    proof: str = ""  # the consent the tool recorded (time, IP), added to the wording
    ip: str | None = None


def _parse_row(line: int, row: list[str], layout: import_formats.Layout) -> ImportRow:
    def cells(role: str) -> list[str]:
        return [row[i].strip() for i in layout.roles.get(role, []) if i < len(row) and row[i].strip()]

    name = " ".join(cells("name") or cells("first_name") + cells("last_name"))
    values = {attr: row[i] for i, attr in layout.attributes if i < len(row) and row[i].strip()}
    for raw in cells("attributes_json"):
        values = {**_json_attributes(raw), **values}
    checked = {attr: attributes.clean_value(attr, value) for attr, value in values.items()}
    if len(checked) > attributes.MAX_ATTRIBUTES:
        raise subscriptions.SubscribeError(
            f"more than {attributes.MAX_ATTRIBUTES} attributes", "attributes")
    times, ips = cells("consent_time"), cells("consent_ip")
    proof = ""
    if times or ips:
        proof = subscriptions.clean_text(
            f"; {layout.format.name} recorded the consent"
            + (f" at {' / '.join(times)}" if times else "")
            + (f" from {' / '.join(ips)}" if ips else ""), "consent proof", 500)
    country = " ".join(cells("country"))
    try:
        country = subscriptions.clean_country(country)
    except subscriptions.SubscribeError:
        # The form's "choose from the list" means nothing in a file: name the column and what
        # it takes.
        raise subscriptions.SubscribeError(
            f"column 'country': {country.strip()[:20]!r} is not a country code; use the two-letter "
            "ISO 3166-1 code (DE, FR, GB, US, ...) or leave it empty", "country") from None
    language = " ".join(cells("language"))
    if language and normalise(language) is None:
        raise subscriptions.SubscribeError(
            f"column 'language': {language.strip()[:20]!r} is not a language we have; use one of "
            + ", ".join(LANGUAGES) + " or leave it empty", "language")
    return ImportRow(
        line=line, language=normalise(language),
        email=subscriptions.normalise_email(" ".join(cells("email"))),
        name=subscriptions.clean_text(name, "name"),
        country=country,
        attributes=checked, proof=proof, ip=next((ip for ip in reversed(ips) if _is_ip(ip)), None),
    )


def _json_attributes(raw: str) -> dict:
    """listmonk's attributes column: a JSON object; nested values are kept as JSON text."""
    try:
        loaded = json.loads(raw)
    except ValueError:
        raise subscriptions.SubscribeError("the attributes column is not JSON", "attributes") \
            from None
    if not isinstance(loaded, dict):
        raise subscriptions.SubscribeError("the attributes column is not a JSON object",
                                           "attributes")
    result = {}
    for key, value in loaded.items():
        name = attributes.name_from_header(str(key))
        if not name or value is None:
            continue
        result[name] = value if isinstance(value, str | int | float | bool) else json.dumps(value)
    return result


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


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
    # Nothing more to drop: rows are written with Core inserts, commit expires the few ORM
    # objects a batch made, and the identity map holds clean objects weakly, so nothing of this
    # batch outlives it (test_import_streams_in_bounded_memory counts what stays alive).


def _import_row(session: Session, item: ImportRow, mailing_list: MailingList, confirmed: bool,
                wording: str, now: datetime, config: Mapping, report: ImportReport) -> None:
    """One row through subscriptions.subscribe(): the careful road, used after a race."""
    if _already_on_list(session, item.email, mailing_list.id):
        report.unchanged += 1
        return
    if suppression.is_suppressed(session, config["NEWSLETTER_SUPPRESSION_KEY"], item.email):
        report.suppressed += 1
        return
    outcome = subscriptions.subscribe(session, subscriptions.SubscribeRequest(
        email=item.email, lists=[mailing_list], method=ConsentMethod.import_, name=item.name,
        country=item.country, language=item.language, wording=wording + item.proof, ip=item.ip,
        existing_consent=confirmed, send_welcome=False,
    ), now=now, config=config)
    if outcome.subscriber is not None and item.attributes:
        _fill_attributes(session, {outcome.subscriber.id: item.attributes})
    report.subscribed += len(outcome.confirmed)
    report.pending += len(outcome.pending)
    report.mails_queued += len(outcome.mails)
    session.flush()


def _import_batch(session: Session, batch: list[ImportRow], mailing_list: MailingList,
                  confirmed: bool, wording: str, now: datetime, config: Mapping,
                  report: ImportReport) -> None:
    """What _import_row does for each row, in a handful of set-based statements per batch
    (plus, for double opt-in, one confirmation mail per new member)."""
    key = config["NEWSLETTER_SUPPRESSION_KEY"]
    rows: dict[str, ImportRow] = {}
    for item in batch:
        if item.email in rows:
            report.unchanged += 1  # twice in the file: the first one counts
        else:
            rows[item.email] = item
    if not rows:
        return
    hashes = {suppression.email_hash(key, email): email for email in rows}
    suppressed = {hashes[h] for h in session.scalars(
        select(Suppression.email_hash).where(Suppression.email_hash.in_(list(hashes))))}
    known = dict(session.execute(
        select(Subscriber.email, Subscriber.id).where(Subscriber.email.in_(list(rows)))).all())
    on_list = set(session.scalars(select(Subscription.subscriber_id).where(
        Subscription.list_id == mailing_list.id, Subscription.subscriber_id.in_(list(known.values())))))
    joining = []
    for email in rows:
        if email in known and known[email] in on_list:
            report.unchanged += 1
        elif email in suppressed:
            report.suppressed += 1
        else:
            joining.append(email)
    if not joining:
        return
    try:
        with savepoint(session):
            ids = _insert_members(session, joining, rows, known, mailing_list, confirmed, wording,
                                  now, key)
    except IntegrityError:
        # Somebody subscribed one of these addresses meanwhile: take the careful road row by row.
        for email in joining:
            _import_row(session, rows[email], mailing_list, confirmed, wording, now, config, report)
        return
    if confirmed:
        report.subscribed += len(joining)
        return
    report.pending += len(joining)
    pending = session.scalars(select(Subscription).where(
        Subscription.list_id == mailing_list.id, Subscription.subscriber_id.in_(ids))
        .options(joinedload(Subscription.subscriber)))
    for subscription in pending:
        messages.queue_confirmation(session, config, subscription.subscriber, [subscription],
                                           now)
        report.mails_queued += 1


def _insert_members(session: Session, joining: list[str], rows: dict[str, ImportRow],
                    known: dict[str, int], mailing_list: MailingList, confirmed: bool,
                    wording: str, now: datetime, key: str) -> list[int]:
    status = SubscriberStatus.active if confirmed else SubscriberStatus.pending
    new = [email for email in joining if email not in known]
    if new:
        created = session.execute(insert(Subscriber).returning(Subscriber.id, Subscriber.email), [
            {"email": email, "name": rows[email].name, "country": rows[email].country,
             "language": rows[email].language,
             "email_hash": suppression.email_hash(key, email), "status": status,
             "attributes": rows[email].attributes, "created_at": now, "updated_at": now}
            for email in new]).all()
        known = {**known, **{email: subscriber_id for subscriber_id, email in created}}
    returning = [known[email] for email in joining if email not in new]
    _fill_attributes(session, {known[email]: rows[email].attributes for email in joining
                               if email not in new and rows[email].attributes})
    if returning and confirmed:
        session.execute(update(Subscriber).where(
            Subscriber.id.in_(returning),
            Subscriber.status.in_([SubscriberStatus.pending, SubscriberStatus.unsubscribed]),
        ).values(status=SubscriberStatus.active, updated_at=now)
            .execution_options(synchronize_session=False))
    session.execute(insert(Subscription), [
        {"subscriber_id": known[email], "list_id": mailing_list.id, "source": ConsentMethod.import_.value,
         "created_at": now, "consent_wording": wording + rows[email].proof,
         **({"status": SubscriptionStatus.confirmed, "confirmed_at": now} if confirmed else
            {"status": SubscriptionStatus.pending, "confirmation_sent_at": now})}
        for email in joining])
    if confirmed:
        policy_version_id = consent.current_policy_version_id(session, now)
        session.execute(insert(ConsentEvent), [
            {"subscriber_id": known[email], "purpose": consent.newsletter_purpose(mailing_list.slug),
             "granted": True, "at": now, "method": ConsentMethod.import_,
             "wording": wording + rows[email].proof, "ip": rows[email].ip,
             "policy_version_id": policy_version_id} for email in joining])
    return [known[email] for email in joining]


def _fill_attributes(session: Session, wanted: dict[int, dict]) -> None:
    """Known people joining the list: add the attribute names they do not have yet (an import
    never changes a value somebody already holds)."""
    if not wanted:
        return
    current = dict(session.execute(select(Subscriber.id, Subscriber.attributes)
                                   .where(Subscriber.id.in_(list(wanted)))).all())
    changes = []
    for subscriber_id, values in wanted.items():
        try:
            merged = attributes.merged(current.get(subscriber_id), values, overwrite=False)
        except subscriptions.SubscribeError:
            continue  # already at the limit: what they hold stays as it is
        changes.append({"id": subscriber_id, "attributes": merged})
    if changes:
        session.execute(update(Subscriber), changes)


def _already_on_list(session: Session, email: str, list_id: int) -> bool:
    return session.scalar(
        select(Subscription.id).join(Subscriber)
        .where(Subscriber.email == email, Subscription.list_id == list_id)
    ) is not None


def iter_errors(report: ImportReport) -> Iterable[str]:
    """The report's kept errors as printable lines."""
    for line, message in report.errors:
        yield f"line {line}: {message}"
