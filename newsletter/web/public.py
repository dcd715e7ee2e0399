"""Public pages (no login): subscribe, confirm, unsubscribe, preferences.

Routes (DESIGN.md section 9):
  GET  /                            the public lists
  GET  /subscribe/<slug>[?lists=a,b] the form;  POST subscribes (honeypot, per-IP limit)
  GET  /confirm/<token>             a page with one button (scanners pre-fetch GET: it changes nothing)
  POST /confirm/<token>             confirms; or, for an expired link, sends a new mail
  GET  /u/<token>                   the unsubscribe page (+ resubscribe, + preference-centre link)
  POST /u/<token>                   unsubscribes; also the RFC 8058 one-click target
  GET/POST /preferences/<token>     the preference centre
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from newsletter import links
from newsletter.extensions import csrf, db, limiter
from newsletter.i18n import LANGUAGES, browser_language, current_language, use_page_language
from newsletter.models import ConsentMethod, MailingList, Subscriber, SubscriptionStatus, utcnow
from newsletter.privacy import purposes
from newsletter.subscribers import confirmation, form_fields, preferences, subscriptions
from newsletter.subscribers.lists import SLUG
from newsletter.tokens import TokenError
from newsletter.web import client
from newsletter.web import one_click as one_click_post

bp = Blueprint("public", __name__)


def _subscribe_limit() -> str:
    return current_app.config["NEWSLETTER_SUBSCRIBE_RATE_LIMIT"]


def consent_wording(lists: list[MailingList]) -> str:
    """The sentence shown next to the subscribe button; recorded verbatim as proof of consent."""
    what = lists[0].name if len(lists) == 1 else _("the newsletters ticked above")
    return _("Yes, send me %(what)s by email. I can unsubscribe at any time with the link "
             "in every mail.", what=what)


def N_(message: str) -> str:
    """Marks a message for pybabel (a default keyword) without translating it here."""
    return message


# The domain's messages a visitor of the form can meet (subscribers/addresses.py,
# subscriptions.py), listed so pybabel finds them: the page shows them in its language.
FORM_ERRORS = (
    N_("Enter an email address."),
    N_("Choose a country from the list."),
    N_("Choose at least one list."),
    N_("The name must not contain line breaks or control characters."),
    N_("The name is longer than 200 characters."),
    # A list's own fields (subscribers/form_fields.py MESSAGES)
    N_("Please fill in this field."),
    N_("Enter a number, like 42 or 3.5."),
    N_("Enter a date as year-month-day, like 2026-12-31."),
    N_("Choose yes or no."),
    N_("This answer is too long (at most 500 characters)."),
    N_("Line breaks and control characters are not allowed here."),
    N_("Enter text here."),
)


# The link errors a visitor can meet (tokens.py, subscribers/), in the page's language.
LINK_ERRORS = (
    N_("This link has expired."),
    N_("This link is not valid. It may have been cut short or altered."),
    N_("This link is not valid."),
    N_("This link is no longer valid. Use the link in a recent mail."),
    N_("This is a test copy of a newsletter, so this link is only a sample. In the mail your "
       "subscribers get, it opens each one's own preferences."),
)


def link_error(error: Exception) -> str:
    message = str(error)
    return _(message) if message in LINK_ERRORS else message


def form_error(exc: subscriptions.SubscribeError) -> str:
    """The error in the page's language. email-validator's detailed reasons exist in English
    only: other languages get one plain sentence for any address it refuses."""
    message = str(exc)
    if message in FORM_ERRORS or current_language() == "en":
        return _(message)
    if exc.field_name == "email":
        return _("Enter a valid email address, like name@example.org.")
    return message


def _commit() -> None:
    """Commit; the mail this request queued goes out with the worker, never from the request.

    Talking SMTP here would make the answer slow exactly when a mail is due (a new address) and
    quick when none is (known or suppressed): its timing would tell who is subscribed.
    """
    db.session.commit()


def _bad_link(error: TokenError, **extra):
    return render_template("error.html", code=400, title=_("This link does not work"),
                           message=link_error(error), **extra), 400


@bp.get("/")
def index():
    lists = db.session.scalars(
        select(MailingList).where(MailingList.public.is_(True)).order_by(MailingList.name)
    ).all()
    return render_template("public/index.html", lists=lists)


def _page_language(subscriber: Subscriber | None, lists: list[MailingList]) -> None:
    """Pages reached by a subscriber's link speak their stored language (Accept-Language next)."""
    use_page_language(stored=subscriber.language if subscriber is not None else None,
                      fallback=lists[0].default_language if lists else None)


# --- subscribe ----------------------------------------------------------------------------------


def _form_lists(slug: str) -> list[MailingList]:
    slugs = [slug] + [s.strip() for s in request.args.get("lists", "").split(",") if s.strip()]
    # Only well-formed slugs reach SQL (PostgreSQL refuses NUL bytes with an error, not a miss).
    if len(slugs) > 20 or not all(SLUG.match(s) for s in slugs):
        abort(404)
    # A list that is not public does not exist for the public pages (same 404 as a typo).
    found = {m.slug: m for m in db.session.scalars(
        select(MailingList).where(MailingList.slug.in_(slugs), MailingList.public.is_(True)))}
    if any(s not in found for s in slugs):
        abort(404)
    return list(dict.fromkeys(found[s] for s in slugs))


def answers(form) -> dict:
    """The answers to a list's own fields: the inputs named `attributes.<name>`."""
    return {key.removeprefix("attributes."): value for key, value in form.items()
            if key.startswith("attributes.")}


def subscribe_page(lists: list[MailingList], form, exc: subscriptions.SubscribeError | None = None,
                   form_action: str | None = None):
    """The subscribe form (with the list's own fields), filled in as far as it got; with an
    error, each message below its field and a 400."""
    field_errors = {}
    if isinstance(exc, form_fields.FieldErrors):
        field_errors = {name: form_error(subscriptions.SubscribeError(message))
                        for name, message in exc.errors.items()}
    page = render_template(
        "public/subscribe.html", lists=lists, countries=subscriptions.country_choices(),
        wording=consent_wording(lists), form=form, form_action=form_action,
        fields=form_fields.of_lists(lists), field_errors=field_errors,
        error=form_error(exc) if exc is not None else None,
        error_field=exc.field_name if exc is not None else None)
    return page, 200 if exc is None else 400


@bp.route("/subscribe/<slug>", methods=["GET", "POST"])
@limiter.limit(_subscribe_limit, methods=["POST"])
def subscribe(slug: str):
    lists = _form_lists(slug)
    use_page_language(fallback=lists[0].default_language)
    if request.method == "GET":
        return subscribe_page(lists, {})
    form = request.form
    chosen = lists
    if len(lists) > 1:
        chosen = [m for m in lists if str(m.id) in form.getlist("list")]
    # Bots fill every field; people never see this one. They get the usual answer, nothing else.
    if form.get("website"):
        return render_template("public/subscribed.html"), 200
    try:
        form_fields.subscribe(db.session, subscriptions.SubscribeRequest(
            email=form.get("email", ""), lists=chosen, method=ConsentMethod.form,
            name=form.get("name", ""), country=form.get("country") or None,
            wording=consent_wording(lists), language=browser_language(), **client(),
        ), form_fields.of_lists(chosen), answers(form), now=utcnow(), config=current_app.config)
    except subscriptions.SubscribeError as exc:
        db.session.rollback()
        return subscribe_page(lists, form, exc)
    _commit()
    # The same page whatever happened (new, known, already subscribed, suppressed): no enumeration.
    return render_template("public/subscribed.html"), 200


# --- confirm ------------------------------------------------------------------------------------


@bp.get("/confirm/<token>")
def confirm_page(token: str):
    try:
        subscriber_id, list_ids = confirmation.read_confirm_token(current_app.config, token)
    except TokenError as exc:
        if confirmation.expired_confirm_payload(exc) is not None:
            return render_template("public/confirm_expired.html", token=token), 400
        return _bad_link(exc)
    lists = db.session.scalars(select(MailingList).where(MailingList.id.in_(list_ids))).all()
    _page_language(db.session.get(Subscriber, subscriber_id), lists)
    done = confirmation.already_confirmed(db.session, subscriber_id, list_ids)
    if done is not None:
        prefs = links.preferences_url(current_app.config, done.id, done.token_version)
        return render_template("public/confirmed.html", lists=lists, preferences_url=prefs, already=True)
    return render_template("public/confirm.html", token=token, lists=lists)


# No CSRF token here: the signed token in the URL is the credential (as for /u/), and a browser
# that refuses cookies must still be able to confirm. A forged cross-site POST could only confirm
# a request whose link the forger already holds.
@bp.post("/confirm/<token>")
@csrf.exempt
def confirm(token: str):
    config, now = current_app.config, utcnow()
    try:
        subscriber_id, list_ids = confirmation.read_confirm_token(config, token)
    except TokenError as exc:
        expired = confirmation.expired_confirm_payload(exc)
        if expired is None or request.form.get("action") != "resend":
            return _bad_link(exc)
        confirmation.resend_confirmation(db.session, *expired, now=now, config=config)
        _commit()
        return render_template("public/subscribed.html", resent=True)
    try:
        outcome = confirmation.confirm(db.session, subscriber_id, list_ids, now=now, config=config,
                                        **client())
    except subscriptions.SubscribeError as exc:
        db.session.rollback()
        return render_template("error.html", code=400, title=_("Nothing to confirm"),
                               message=str(exc)), 400
    subscriber = outcome.subscriber
    prefs = links.preferences_url(config, subscriber.id, subscriber.token_version)
    lists = [s.mailing_list for s in outcome.confirmed + outcome.already]
    _page_language(subscriber, lists)
    _commit()
    return render_template("public/confirmed.html", lists=lists, preferences_url=prefs,
                           already=not outcome.confirmed)


# --- unsubscribe --------------------------------------------------------------------------------


def _unsubscribe_target(token: str):
    subscriber_id, list_id = subscriptions.read_unsubscribe_token(current_app.config, token)
    return db.session.get(Subscriber, subscriber_id), db.session.get(MailingList, list_id)


@bp.get("/u/<token>")
def unsubscribe_page(token: str):
    try:
        subscriber, mailing_list = _unsubscribe_target(token)
    except TokenError as exc:
        return _bad_link(exc)
    return _unsubscribe_render(token, subscriber, mailing_list)


def _unsubscribe_render(token, subscriber, mailing_list, done: str = "", status: int = 200):
    _page_language(subscriber, [mailing_list] if mailing_list is not None else [])
    subscription = None
    if subscriber is not None and mailing_list is not None:
        subscription = next((s for s in subscriber.subscriptions if s.list_id == mailing_list.id), None)
    on_list = subscription is not None and subscription.status is not SubscriptionStatus.unsubscribed
    prefs = None
    if subscriber is not None:
        prefs = links.preferences_url(current_app.config, subscriber.id, subscriber.token_version)
    return render_template("public/unsubscribe.html", token=token, subscriber=subscriber,
                           list=mailing_list, on_list=on_list, subscription=subscription,
                           preferences_url=prefs, done=done), status


# No CSRF and no cookie here on purpose: RFC 8058 one-click POSTs come from mailbox providers with
# neither. The signed token in the URL is the credential, so a forged cross-site POST achieves
# nothing an attacker who already holds the link could not do anyway.
@bp.post("/u/<token>")
@csrf.exempt
def unsubscribe(token: str):
    config, now = current_app.config, utcnow()
    try:
        subscriber_id, list_id = subscriptions.read_unsubscribe_token(config, token)
    except TokenError as exc:
        return _bad_link(exc)
    if request.form.get("List-Unsubscribe") == "One-Click":
        # RFC 8058. Usually answered before Flask by web/one_click.py; a multipart body gets here.
        return one_click_post.unsubscribe(current_app, subscriber_id, list_id, **client())
    subscriber, mailing_list = _unsubscribe_target(token)
    action = request.form.get("action", "unsubscribe")
    if subscriber is None:  # erased or purged: nothing left to unsubscribe, and that is success
        return _unsubscribe_render(token, None, mailing_list, done="unsubscribed")
    if action == "resubscribe" and mailing_list is not None:
        subscriptions.resubscribe(
            db.session, subscriber, mailing_list, now=now, config=config,
            wording=_("Subscribe me to %(name)s again.", name=mailing_list.name), **client())
        _commit()
        return _unsubscribe_render(token, subscriber, mailing_list, done="resubscribe")
    everything = request.form.get("scope") == "all" or mailing_list is None
    subscriptions.unsubscribe(
        db.session, subscriber, list_ids=None if everything else [mailing_list.id],
        method=ConsentMethod.link, now=now, suppression_key=config["NEWSLETTER_SUPPRESSION_KEY"],
        wording=_("Unsubscribe from everything") if everything
        else _("Unsubscribe from %(name)s", name=mailing_list.name),
        **client(),
    )
    db.session.commit()
    return _unsubscribe_render(token, subscriber, mailing_list,
                               done="everything" if everything else "unsubscribed")


# --- preference centre --------------------------------------------------------------------------


@bp.route("/preferences/<token>", methods=["GET", "POST"])
def preferences_page(token: str):
    config, now = current_app.config, utcnow()
    try:
        subscriber = preferences.read_preferences_token(db.session, config, token)
    except TokenError as exc:
        return _bad_link(exc)
    _page_language(subscriber, [])
    error, done, status = None, "", 200
    if request.method == "POST":
        try:
            if request.form.get("action") == "leave":
                subscriptions.unsubscribe(
                    db.session, subscriber, list_ids=None, method=ConsentMethod.preferences,
                    now=now, suppression_key=config["NEWSLETTER_SUPPRESSION_KEY"],
                    wording=_("Leave all: unsubscribe from every list."), **client())
                done = "left"
            else:
                wanted = {int(i) for i in request.form.getlist("list") if i.isdigit()}
                preferences.update_preferences(
                    db.session, subscriber, name=request.form.get("name", ""),
                    country=request.form.get("country") or None, wanted_list_ids=wanted,
                    language=request.form.get("language") or None,
                    now=now, config=config, **client())
                # The page answers in the language just chosen.
                use_page_language(stored=subscriber.language)
                done = "saved"
            _commit()
        except subscriptions.SubscribeError as exc:
            db.session.rollback()
            error, status = form_error(exc), 400
    lists = preferences.offered_lists(db.session, subscriber)
    on = {s.list_id for s in subscriber.subscriptions if s.status is SubscriptionStatus.confirmed}
    return render_template("public/preferences.html", subscriber=subscriber, lists=lists, on=on,
                           countries=subscriptions.country_choices(), error=error, done=done,
                           token=token, purposes=purposes.states(db.session, subscriber),
                           languages=LANGUAGES), status
