"""Public pages (no login): subscribe, confirm, unsubscribe, preferences, policy, archive."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import MailingList

bp = Blueprint("public", __name__)


@bp.get("/")
def index():
    lists = db.session.scalars(
        select(MailingList).where(MailingList.public.is_(True)).order_by(MailingList.name)
    ).all()
    return render_template("public/index.html", lists=lists)


@bp.get("/subscribe/<slug>")
def subscribe(slug: str):
    mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
    if mailing_list is None:
        abort(404)
    return render_template("public/subscribe.html", lists=[mailing_list])
