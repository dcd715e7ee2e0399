"""Access: everything held about one address, as JSON and CSV files in a zip (GDPR art. 15).

`collect()` reads the rows about the person table by table (keyed by table name, every column,
with the campaign subject next to a delivery and the policy version next to a consent);
`write_zip()` writes `data.json`, one `<table>.csv` per table and the raw mail they sent us as
`inbound/<id>.eml`. Nothing is stored: the zip is built when it is asked for (the CLI, the admin
request page, or the signed download link mailed for a verified access request).

Which rows are about the person is subject.py's rule (shared with erasure.py): a human reply from
another address that carries their token (a forwarded newsletter) is the other person's mail and
is left out.
"""

from __future__ import annotations

import csv
import enum
import io
import json
import zipfile
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import BinaryIO

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from newsletter import tokens
from newsletter.i18n import in_language
from newsletter.models import (
    AuditEvent,
    BounceEvent,
    Campaign,
    ConsentEvent,
    Delivery,
    InboundMessage,
    MailingList,
    OutboundMail,
    PolicyNotice,
    PolicyVersion,
    PrivacyRequest,
    PrivacyRequestStatus,
    PurposeNotice,
    Subscriber,
    Subscription,
    Suppression,
)
from newsletter.privacy import audit, data_requests, subject
from newsletter.sending import mailer
from newsletter.subscribers import suppression

# Columns that are ours, not the person's, and would only help someone misuse the file (a queued
# mail's payload holds live links).
LEFT_OUT = {"outbound_mail": {"raw", "payload"}, "subscriber": {"token_version", "email_hash"}}


class ExportError(Exception):
    """A download link that is not good (expired, altered, or its request is gone)."""


def collect(session: Session, email: str, config: Mapping) -> dict[str, list[dict]]:
    """Every row about the address, keyed by table name (rows are plain JSON-able dicts)."""
    person = subject.find(session, email, config)
    requests = _rows(session, PrivacyRequest.__table__, subject.privacy_requests(person))
    return {
        "subscriber": _rows(session, Subscriber.__table__,
                            subject.subscriber_rows(Subscriber.id, person)),
        "subscription": _with_lists(session, _rows(session, Subscription.__table__,
                                                   subject.subscriber_rows(
                                                       Subscription.subscriber_id, person))),
        "consent_event": _with_policies(session, _rows(session, ConsentEvent.__table__,
                                                       subject.subscriber_rows(
                                                           ConsentEvent.subscriber_id, person))),
        "delivery": _with_campaigns(session, _rows(session, Delivery.__table__,
                                                   subject.subscriber_rows(
                                                       Delivery.subscriber_id, person))),
        "bounce_event": _with_campaigns(session, _rows(session, BounceEvent.__table__,
                                                       subject.subscriber_rows(
                                                           BounceEvent.subscriber_id, person))),
        "inbound_message": _with_campaigns(session, _rows(
            session, InboundMessage.__table__, subject.inbound(session, person, erasure=False))),
        "outbound_mail": _rows(session, OutboundMail.__table__,
                               subject.outbound(session, person, erasure=False)),
        "policy_notice": _rows(session, PolicyNotice.__table__,
                               subject.subscriber_rows(PolicyNotice.subscriber_id, person)),
        "purpose_notice": _rows(session, PurposeNotice.__table__,
                                subject.subscriber_rows(PurposeNotice.subscriber_id, person)),
        "privacy_request": requests,
        "suppression": _rows(session, Suppression.__table__, subject.suppressions(person)),
        "audit_event": [_actor_kind(r) for r in _rows(session, AuditEvent.__table__,
                                                     subject.audit_events(
                                                         person, [r["id"] for r in requests]))],
    }


def _rows(session: Session, table: Table, where) -> list[dict]:
    left_out = LEFT_OUT.get(table.name, set())
    rows = session.execute(select(table).where(where).order_by(table.c.id)).mappings()
    return [{k: _plain(v) for k, v in row.items() if k not in left_out} for row in rows]


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _lookup(session: Session, model, ids: set, *columns) -> dict:
    if not ids:
        return {}
    return {row[0]: row[1:] for row in session.execute(
        select(model.id, *columns).where(model.id.in_(ids)))}


def _with_campaigns(session: Session, rows: list[dict]) -> list[dict]:
    """The subject and start of the campaign a row names."""
    found = _lookup(session, Campaign, {r["campaign_id"] for r in rows if r.get("campaign_id")},
                    Campaign.subject, Campaign.started_at)
    for row in rows:
        subject, started = found.get(row.get("campaign_id"), (None, None))
        row["campaign_subject"], row["campaign_started_at"] = subject, _plain(started)
    return rows


def _with_lists(session: Session, rows: list[dict]) -> list[dict]:
    found = _lookup(session, MailingList, {r["list_id"] for r in rows}, MailingList.name)
    for row in rows:
        row["list_name"] = found.get(row["list_id"], (None,))[0]
    return rows


def _with_policies(session: Session, rows: list[dict]) -> list[dict]:
    """The policy version in force when the consent was given or withdrawn."""
    found = _lookup(session, PolicyVersion,
                    {r["policy_version_id"] for r in rows if r["policy_version_id"]},
                    PolicyVersion.version, PolicyVersion.effective_at)
    for row in rows:
        version, effective = found.get(row["policy_version_id"], (None, None))
        row["policy_version"], row["policy_effective_at"] = version, _plain(effective)
    return rows


def _actor_kind(row: dict) -> dict:
    # Staff addresses are the staff's personal data: the export says what kind of actor it was.
    row["actor"] = row["actor"].split(":", 1)[0]
    return row


def write_zip(tables: dict[str, list[dict]], out: BinaryIO, *, email: str, now: datetime) -> None:
    """data.json, one CSV per table and inbound/<id>.eml, written into `out`."""
    raw_mail = {}
    for row in tables["inbound_message"]:
        raw = row.pop("raw", None)
        row["raw_file"] = f"inbound/{row['id']}.eml" if raw else None
        if raw:
            raw_mail[row["id"]] = raw
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        document = {"email": email, "generated_at": now.isoformat(), "tables": tables}
        archive.writestr("data.json", json.dumps(document, indent=2, ensure_ascii=False,
                                                  default=str))
        for name, rows in tables.items():
            archive.writestr(f"{name}.csv", _csv(rows))
        for message_id, raw in raw_mail.items():
            archive.writestr(f"inbound/{message_id}.eml", raw)


def _csv(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list))
                         else v for k, v in row.items()})
    return buffer.getvalue()


def export(session: Session, email: str, out: BinaryIO, *, config: Mapping, now: datetime,
           actor: str) -> dict[str, int]:
    """Write the zip of one address into `out`, audited; returns rows per table."""
    tables = collect(session, email, config)
    counts = {name: len(rows) for name, rows in tables.items()}
    write_zip(tables, out, email=email, now=now)
    audit.record(session, actor=actor, action="privacy.export", subject_type="email_hash",
                 subject_id=suppression.email_hash(config["NEWSLETTER_SUPPRESSION_KEY"],
                                                   email)[:16],
                 now=now, detail={"rows": counts})
    return counts


# --- the mailed download link -------------------------------------------------------------------


def download_token(config: Mapping, request: PrivacyRequest) -> str:
    """A signed, expiring token naming the access request (and a piece of its address hash)."""
    return tokens.sign(config["SECRET_KEY"], tokens.EXPORT_DOWNLOAD,
                       [request.id, request.email_hash[:16]])


def mail_link(session: Session, config: Mapping, request: PrivacyRequest, *, now: datetime,
              actor: str) -> OutboundMail:
    """Mail the download link for a verified access request and close it as answered."""
    days = config["NEWSLETTER_EXPORT_DAYS"]
    url = f"{config['NEWSLETTER_BASE_URL']}/privacy/export/{download_token(config, request)}"
    with in_language(request.detail.get("language")):
        subject = _("Your personal data: download link")
        text = render_template("email/privacy_export.txt", url=url, days=days,
                               expires=now + timedelta(days=days))
    message = mailer.build_message(config, to=request.detail["email"], subject=subject,
                                   text=text, now=now)
    mail = mailer.queue(session, kind="privacy-export", mail=message, now=now)
    request.detail = {**request.detail, "export_sent_at": now.isoformat(), "export_sent_by": actor}
    data_requests.close(session, request, status=PrivacyRequestStatus.completed, actor=actor,
                        now=now, note="download link mailed")
    return mail


def read_download(session: Session, config: Mapping, token: str) -> tuple[PrivacyRequest, str]:
    """The request and address a download link names; ExportError if the link is not good."""
    try:
        request_id, hash_part = tokens.load(config["SECRET_KEY"], tokens.EXPORT_DOWNLOAD, token,
                                            max_age=config["NEWSLETTER_EXPORT_DAYS"] * 86400)
        request = session.get(PrivacyRequest, int(request_id))
    except tokens.TokenError as exc:
        raise ExportError(str(exc)) from None
    except (TypeError, ValueError):
        raise ExportError("This link is not valid.") from None
    if request is None or request.email_hash[:16] != hash_part or not request.detail.get("email"):
        raise ExportError("There is no data to download for this link any more.")
    used = request.detail.get("downloaded_at")
    if used:
        raise ExportError(f"This link was used on {datetime.fromisoformat(used):%d %B %Y at %H:%M}"
                          " UTC and works only once. To get a fresh copy, ask again on our"
                          " privacy request page.")
    return request, request.detail["email"]


def download(session: Session, config: Mapping, token: str, out: BinaryIO, *,
             now: datetime) -> None:
    """Write the zip a download link names into `out` and spend the link (it works once: the
    mail may be forwarded, and a scanner only ever GETs the page in front of it); ExportError
    if the link is not good. The caller commits before handing out the bytes."""
    request, email = read_download(session, config, token)
    export(session, email, out, config=config, now=now, actor="link")
    request.detail = {**request.detail, "downloaded_at": now.isoformat()}
