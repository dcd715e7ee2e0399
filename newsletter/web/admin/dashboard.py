"""The admin landing page: counts that say what needs attention."""

from __future__ import annotations

from flask import render_template
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import (
    Campaign,
    CampaignStatus,
    InboundMessage,
    InboundStatus,
    MailingList,
    PrivacyRequest,
    PrivacyRequestStatus,
    Subscriber,
)
from newsletter.sending import eligibility
from newsletter.web.admin.blueprint import bp


@bp.get("/")
def dashboard():
    def count(statement):
        return db.session.scalar(statement) or 0

    figures = {
        "lists": count(select(func.count(MailingList.id))),
        # Suppressed addresses are not active, whatever their status says.
        "active_subscribers": count(select(func.count(Subscriber.id)).where(eligibility.active())),
        "campaigns_sending": count(
            select(func.count(Campaign.id)).where(Campaign.status == CampaignStatus.sending)
        ),
        "inbox_waiting": count(
            select(func.count(InboundMessage.id)).where(
                InboundMessage.status == InboundStatus.needs_human
            )
        ),
        "privacy_open": count(
            select(func.count(PrivacyRequest.id)).where(
                PrivacyRequest.status.in_(
                    [PrivacyRequestStatus.unverified, PrivacyRequestStatus.verified]
                )
            )
        ),
    }
    # Campaigns held up by the mail server, or paused by the system because of it: say why.
    attention = db.session.scalars(select(Campaign).where(
        (Campaign.waiting_since.is_not(None)) | (Campaign.paused_reason.is_not(None)),
        Campaign.status.in_([CampaignStatus.sending, CampaignStatus.welcome,
                             CampaignStatus.paused]),
    ).order_by(Campaign.id.desc()).limit(20)).all()
    return render_template("admin/dashboard.html", figures=figures, attention=attention)
