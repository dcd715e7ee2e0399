"""Sign-ups from other sites: the embeddable HTML form and the public JSON endpoint.

Routes:
  POST    /subscribe/<slug>/embed   a plain HTML form on another site: no cookie, no CSRF token
  POST    /api/public/subscribe     JSON {"email", "lists": [slug, ...], "name", "country",
                                    "attributes": {name: answer}} (the lists' own fields)
  OPTIONS /api/public/subscribe     the CORS preflight (origins in NEWSLETTER_FORM_ORIGINS)
  GET     /api/public/challenge     a proof-of-work challenge (NEWSLETTER_FORM_POW; any origin)

Why no CSRF token here: CSRF protects what a logged-in session may do, and these routes have no
session and act for nobody. What a forged or scripted post can do is ask for a confirmation
mail, so the protection is double opt-in itself (a list without it is refused here), with the
honeypot field, the per-IP limit (NEWSLETTER_SUBSCRIBE_RATE_LIMIT) and the per-address limit
(one confirmation per list per NEWSLETTER_CONFIRM_RESEND_MINUTES, subscriptions.py), and, when
NEWSLETTER_FORM_POW is on, a solved proof-of-work challenge used once (proof_of_work.py). The answer
is the same whatever the address's state: no enumeration. The admin pages and login keep CSRF.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, url_for
from sqlalchemy import select

from newsletter import proof_of_work
from newsletter.extensions import csrf, db, limiter
from newsletter.i18n import browser_language
from newsletter.models import ConsentMethod, MailingList, utcnow
from newsletter.subscribers import form_fields, subscriptions
from newsletter.subscribers.lists import SLUG
from newsletter.web import client
from newsletter.web.public import answers, consent_wording, subscribe_page

bp = Blueprint("embed", __name__)

ANSWER = "Thank you. Please check your inbox: a mail asks you to confirm."
POW_MISSING = ("This form needs its check to finish first: wait a moment after the page loads, "
               "then send it again.")
CORS_MAX_AGE = "86400"


def _subscribe_limit() -> str:
    return current_app.config["NEWSLETTER_SUBSCRIBE_RATE_LIMIT"]


class NotEmbeddable(Exception):
    """A list that is unknown, not public, or without double opt-in (same answer for all)."""


def embeddable_lists(slugs: list[str]) -> list[MailingList]:
    """The public double opt-in lists named by `slugs`; NotEmbeddable if any is not one."""
    if not slugs or len(slugs) > 20 or not all(isinstance(s, str) and SLUG.match(s) for s in slugs):
        raise NotEmbeddable
    found = {m.slug: m for m in db.session.scalars(select(MailingList).where(
        MailingList.slug.in_(slugs), MailingList.public.is_(True),
        MailingList.double_opt_in.is_(True)))}
    if any(s not in found for s in slugs):
        raise NotEmbeddable
    return list(dict.fromkeys(found[s] for s in slugs))


def _subscribe(lists: list[MailingList], values: dict, answered: dict) -> None:
    """The one domain call, as the list's own form makes it (with the answers to the lists'
    own fields); SubscribeError on bad input."""
    form_fields.subscribe(db.session, subscriptions.SubscribeRequest(
        email=str(values.get("email") or ""), lists=lists, method=ConsentMethod.form,
        name=str(values.get("name") or ""), country=str(values.get("country") or "") or None,
        wording=consent_wording(lists), language=browser_language(), **client(),
    ), form_fields.of_lists(lists), answered, now=utcnow(), config=current_app.config)
    # Commit only: the confirmation mail is queued and the worker sends it (web/public.py says
    # why a request never talks SMTP).
    db.session.commit()


def _proof_of_work_missing(payload: object) -> bool:
    """True when a proof of work is required and this one is missing, wrong, expired or used."""
    config = current_app.config
    if not config["NEWSLETTER_FORM_POW"]:
        return False
    solved = proof_of_work.verify(config["SECRET_KEY"], payload if isinstance(payload, str) else "")
    if solved is None:
        return True
    # Each challenge counts once (until it expires); the limiter's storage is shared by every
    # process when RATELIMIT_STORAGE_URI names a shared store.
    expiry = int(proof_of_work.VALID_FOR.total_seconds())
    return limiter.storage.incr(f"newsletter-pow/{solved}", expiry) > 1


def snippet(mailing_list: MailingList) -> str:
    """The HTML a marketer pastes into another site for this list."""
    base = current_app.config["NEWSLETTER_BASE_URL"]
    return render_template("public/embed_snippet.html", list=mailing_list,
                           action=f"{base}/subscribe/{mailing_list.slug}/embed",
                           pow=current_app.config["NEWSLETTER_FORM_POW"], base=base,
                           fields=form_fields.of_list(mailing_list),
                           wording=consent_wording([mailing_list]))


# --- the HTML form --------------------------------------------------------------------------


@bp.post("/subscribe/<slug>/embed")
@csrf.exempt
@limiter.limit(_subscribe_limit)
def form(slug: str):
    try:
        lists = embeddable_lists([slug])
    except NotEmbeddable:
        abort(404)
    if request.form.get("website"):  # the honeypot: the usual answer, nothing else
        return render_template("public/subscribed.html"), 200
    try:
        if _proof_of_work_missing(request.form.get("altcha")):
            raise subscriptions.SubscribeError(POW_MISSING, "altcha")
        _subscribe(lists, request.form, answers(request.form))
    except subscriptions.SubscribeError as exc:
        db.session.rollback()
        # Our own form, filled in as far as it got, with the reason: the person can fix it here
        # (it posts to our own page, with its CSRF token and without the proof of work).
        return subscribe_page(lists, request.form, exc,
                              form_action=url_for("public.subscribe", slug=slug))
    return render_template("public/subscribed.html"), 200


# --- the JSON endpoint ----------------------------------------------------------------------


def _allowed_origin() -> str | None:
    """The request's Origin if configured; None for a request without one (not a browser)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    if origin not in current_app.config["NEWSLETTER_FORM_ORIGINS"]:
        abort(403, description="This site may not use the subscribe endpoint.")
    return origin


@bp.after_request
def _cors(response):
    origin = request.headers.get("Origin")
    if request.path == "/api/public/subscribe" and origin in \
            current_app.config["NEWSLETTER_FORM_ORIGINS"]:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.vary.add("Origin")
    return response


@bp.get("/api/public/challenge")
@limiter.limit(_subscribe_limit)
def challenge():
    if not current_app.config["NEWSLETTER_FORM_POW"]:
        abort(404)
    body = proof_of_work.challenge(current_app.config["SECRET_KEY"],
                                   current_app.config["NEWSLETTER_FORM_POW_DIFFICULTY"], utcnow())
    # Any page may ask: a challenge is worth nothing until somebody spends the work on it.
    return body, 200, {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}


@bp.route("/api/public/subscribe", methods=["OPTIONS"])
@csrf.exempt
def subscribe_preflight():
    _allowed_origin()
    return "", 204, {"Access-Control-Allow-Methods": "POST",
                     "Access-Control-Allow-Headers": "Content-Type",
                     "Access-Control-Max-Age": CORS_MAX_AGE}


@bp.post("/api/public/subscribe")
@csrf.exempt
@limiter.limit(_subscribe_limit)
def subscribe_json():
    _allowed_origin()
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {"message": "Send a JSON object with email and lists."}, 400
    slugs = data.get("lists", [data.get("list")] if data.get("list") else [])
    try:
        lists = embeddable_lists(slugs if isinstance(slugs, list) else [])
    except NotEmbeddable:
        return {"message": "No such list.", "field": "lists"}, 404
    if not data.get("website"):  # the honeypot: the usual answer, nothing else
        if _proof_of_work_missing(data.get("altcha")):
            return {"message": POW_MISSING, "field": "altcha"}, 400
        answered = data.get("attributes")
        if answered is not None and not isinstance(answered, dict):
            return {"message": "attributes must be a JSON object.", "field": "attributes"}, 422
        try:
            _subscribe(lists, data, answered or {})
        except form_fields.FieldErrors as exc:
            db.session.rollback()
            return {"message": str(exc), "field": exc.field_name,
                    "errors": {f"attributes.{name}": message
                               for name, message in exc.errors.items()}}, 422
        except subscriptions.SubscribeError as exc:
            db.session.rollback()
            return {"message": str(exc), "field": exc.field_name}, 422
    return {"message": ANSWER}, 202
