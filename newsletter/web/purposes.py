"""A subscriber's choice about one use of their data (a purpose).

Routes (DESIGN.md section 9):
  GET  /purpose/<token>                 the purpose, the person's state, one button (changes nothing)
  POST /purpose/<token>                 opt in (choice=grant) or out (choice=withdraw)
  POST /preferences/<token>/purposes    the preference centre's purposes form
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from newsletter.extensions import csrf, db
from newsletter.i18n import use_page_language
from newsletter.models import ConsentMethod, utcnow
from newsletter.privacy import purposes
from newsletter.subscribers import preferences
from newsletter.tokens import TokenError
from newsletter.web import client
from newsletter.web.public import link_error

bp = Blueprint("purposes", __name__)

CHOICES = {"grant": True, "withdraw": False}


def _bad_link(error: TokenError):
    return render_template("error.html", code=400, title=_("This link does not work"),
                           message=link_error(error)), 400


@bp.get("/purpose/<token>")
def purpose_page(token: str):
    try:
        subscriber, purpose = purposes.read_choice_token(db.session, current_app.config, token)
    except TokenError as exc:
        return _bad_link(exc)
    use_page_language(stored=subscriber.language)
    return render_template("public/purpose.html", token=token, subscriber=subscriber,
                           state=purposes.state(db.session, subscriber, purpose), done=None,
                           wording=purposes.wording)


# No CSRF token: the signed link is the credential (as for /confirm and /u), so a browser that
# refuses cookies can still choose. A forger could only act with a link they already hold.
@bp.post("/purpose/<token>")
@csrf.exempt
def purpose_choose(token: str):
    try:
        subscriber, purpose = purposes.read_choice_token(db.session, current_app.config, token)
    except TokenError as exc:
        return _bad_link(exc)
    use_page_language(stored=subscriber.language)
    granted = CHOICES.get(request.form.get("choice", ""))
    if granted is None:
        return render_template("error.html", code=400, title=_("Nothing chosen"),
                               message=_("Press one of the buttons on the page.")), 400
    purposes.choose(db.session, subscriber, purpose, granted=granted, method=ConsentMethod.link,
                    now=utcnow(), **client())
    db.session.commit()
    return render_template("public/purpose.html", token=token, subscriber=subscriber,
                           state=purposes.state(db.session, subscriber, purpose),
                           done="granted" if granted else "withdrawn", wording=purposes.wording)


@bp.post("/preferences/<token>/purposes")
def preferences_purposes(token: str):
    """Each purpose's radio buttons of the preference centre; then back to the page."""
    config, now = current_app.config, utcnow()
    try:
        subscriber = preferences.read_preferences_token(db.session, config, token)
    except TokenError as exc:
        return _bad_link(exc)
    for purpose in purposes.all_purposes(db.session):
        granted = CHOICES.get(request.form.get(f"purpose-{purpose.id}", ""))
        if granted is not None:
            purposes.choose(db.session, subscriber, purpose, granted=granted,
                            method=ConsentMethod.preferences, now=now, **client())
    db.session.commit()
    return redirect(url_for("public.preferences_page", token=token) + "#purposes", 303)
