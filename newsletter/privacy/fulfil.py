"""What a verified data request sets in motion, without waiting for anyone.

An erasure request is carried out the moment its link is confirmed (erasure.py): the person has
proven the address, and the law asks for erasure "without undue delay". An access request is
answered by mail with a signed, expiring download link (export.py); the zip is built when the link
is opened. The caller commits and then sends the mail this returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.models import (
    OutboundMail,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
)
from newsletter.privacy import data_requests, erasure, export


def verify(session: Session, config: Mapping, token: str,
           now: datetime) -> tuple[PrivacyRequest, list[OutboundMail]]:
    """Verify a request by its mailed link and carry it out; PrivacyError on a bad link."""
    request = data_requests.verify(session, config, token, now)
    return request, carry_out(session, config, request, now=now, actor="link")


def carry_out(session: Session, config: Mapping, request: PrivacyRequest, *, now: datetime,
              actor: str) -> list[OutboundMail]:
    """Do what an open request asks; returns the mail queued for after the commit."""
    email = request.detail.get("email")
    if request.status not in data_requests.OPEN_STATUSES or not email:
        return []  # done already, closed, or the address was erased another way
    if request.kind is PrivacyRequestKind.erasure:
        outcome = erasure.erase(session, email, config=config, now=now, actor=actor)
        if request.status is not PrivacyRequestStatus.completed:  # a no-op erasure closes nothing
            data_requests.close(session, request, status=PrivacyRequestStatus.completed,
                                actor=actor, now=now, note="the address was already erased")
        return [outcome.mail] if outcome.mail else []
    return [export.mail_link(session, config, request, now=now, actor=actor)]
