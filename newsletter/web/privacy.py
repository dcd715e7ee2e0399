"""Public data requests: `GET/POST /privacy/request` and the verification link.

Always the same answer ("check your mail"), whether or not we know the address, so the form
cannot be used to find out who is subscribed. The link's GET shows a button; POST verifies
(mail scanners fetch links; they must not verify anything).
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _

from newsletter.extensions import db, limiter
from newsletter.i18n import browser_language
from newsletter.models import PrivacyRequestKind, utcnow
from newsletter.privacy import data_requests, fulfil
from newsletter.sending import mailer
from newsletter.subscribers import subscriptions
from newsletter.subscribers.addresses import InvalidEmail

bp = Blueprint("privacy", __name__, url_prefix="/privacy")

KINDS = {"access": PrivacyRequestKind.access, "erasure": PrivacyRequestKind.erasure}


def _limit() -> str:
    return current_app.config["NEWSLETTER_SUBSCRIBE_RATE_LIMIT"]


@bp.route("/request", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def request_form():
    if request.method == "GET":
        return render_template("public/privacy_request.html", form={}, error=None)
    form = request.form
    kind = KINDS.get(form.get("kind", ""))
    try:
        email = subscriptions.normalise_email(form.get("email", ""))
    except InvalidEmail:
        return render_template("public/privacy_request.html", form=form,
                               error=_("Please enter a valid email address.")), 400
    if kind is None:
        return render_template("public/privacy_request.html", form=form,
                               error=_("Choose what you would like us to do.")), 400
    now = utcnow()
    data_requests.open_request(db.session, kind=kind, email=email, source="form", now=now,
                               config=current_app.config, language=browser_language())
    # Queued, never sent from here: the answer takes as long for a known address as for an
    # unknown one (the worker sends it).
    db.session.commit()
    return render_template("public/privacy_requested.html", email=email)


@bp.get("/verify/<token>")
def verify_page(token: str):
    try:
        found = data_requests.read_verification(current_app.config, db.session, token)
    except data_requests.PrivacyError as exc:
        return render_template("error.html", code=400, title=_("This link does not work"),
                               message=str(exc)), 400
    return render_template("public/privacy_verify.html", request_=found, done=False)


@bp.post("/verify/<token>")
def verify(token: str):
    try:
        now = utcnow()
        found, mails = fulfil.verify(db.session, current_app.config, token, now)
    except data_requests.PrivacyError as exc:
        db.session.rollback()
        return render_template("error.html", code=400, title=_("This link does not work"),
                               message=str(exc)), 400
    mailer.commit_and_send(db.session, current_app.config, mails, now)
    return render_template("public/privacy_verify.html", request_=found, done=True)
