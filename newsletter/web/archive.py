"""The public web archive of a list (public lists with `archive` on): every issue sent, each recurring
occurrence on its own page. Issues are shown as a reader would see them, minus personal data,
from the copy stored on the first view (campaigns.archive_copy): no request renders a template
twice."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, make_response, render_template
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, MailingList, campaign_lists, utcnow
from newsletter.sending import campaigns

bp = Blueprint("archive", __name__)

# GET /archive/<slug>                 the list's sent issues, newest first
# GET /archive/<slug>/<campaign_id>   one issue

ISSUE_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
             "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")


def _archived_list(slug: str) -> MailingList:
    mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
    # A list that is not public has no public pages, archive included, whatever its flag says.
    if mailing_list is None or not mailing_list.public_archive:
        abort(404)
    return mailing_list


@bp.get("/archive/<slug>")
def archive(slug: str):
    """The list's sent issues."""
    mailing_list = _archived_list(slug)
    issues = db.session.scalars(
        select(Campaign).join(campaign_lists, campaign_lists.c.campaign_id == Campaign.id)
        .where(campaign_lists.c.list_id == mailing_list.id, Campaign.status == CampaignStatus.sent)
        .order_by(Campaign.finished_at.desc(), Campaign.id.desc()).limit(500)).all()
    return render_template("public/archive.html", mailing_list=mailing_list, issues=issues)


@bp.get("/archive/<slug>/<int:campaign_id>")
def issue(slug: str, campaign_id: int):
    """One sent issue, without personal data."""
    mailing_list = _archived_list(slug)
    campaign = db.session.get(Campaign, campaign_id)
    if (campaign is None or campaign.status is not CampaignStatus.sent
            or mailing_list not in campaign.lists):
        abort(404)
    html = campaigns.archive_copy(db.session, campaign, mailing_list, current_app.config, utcnow())
    db.session.commit()
    response = make_response(html)
    response.headers["Content-Security-Policy"] = ISSUE_CSP
    return response
