"""Admin: campaigns (list, write, preview, test, schedule, send, pause, resume, cancel, watch).

Routes at the top; each parses the form, calls one function of newsletter.sending.campaigns and renders.
"""

from __future__ import annotations

from datetime import datetime

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import (
    Campaign,
    CampaignStatus,
    MailingList,
    Role,
    Segment,
    Subscriber,
    utcnow,
)
from newsletter.privacy import purposes
from newsletter.sending import (
    analytics,
    campaigns,
    clicks,
    compose,
    layouts,
    proofs,
    readers,
    recurrence,
)
from newsletter.subscribers import attributes, segments
from newsletter.web.admin.blueprint import actor, bp, role_required

# GET  /admin/campaigns                 list
# GET  /admin/campaigns/new             form;  POST creates (draft, scheduled or recurring)
# GET  /admin/campaigns/<id>            figures, progress, preview, actions
# GET  /admin/campaigns/<id>/edit       form;  POST saves
# GET  /admin/campaigns/<id>/preview    the HTML part for a sample reader (sandboxed iframe),
#                                       ?subscriber=ID&seen=AUDIT_ID: as that subscriber
# POST /admin/campaigns/<id>/preview-as subject and HTML as one chosen subscriber, at phone and
#                                       desktop widths (audited: a read of their data)
# POST /admin/campaigns/<id>/duplicate  a new draft with the same content, opened
# POST /admin/campaigns/<id>/<action>   send, pause, resume, cancel, test, welcome

CONFIRMED_ACTIONS = {"send": "send this campaign to its lists now",
                     "cancel": "cancel this campaign for good"}
PREVIEW_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
               "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
# A proof shown for a real subscriber (or a layout's sample): nothing remote loads, so looking
# tells no tracker; same origin only so that fit-frame.js can read the mail's height (no
# script can run in it to use that origin).
PROOF_CSP = ("sandbox allow-same-origin; default-src 'none'; img-src data:; "
             "style-src 'unsafe-inline'; frame-ancestors 'self'")
COMMON_TIMEZONES = ["UTC", "Europe/Berlin", "Europe/London", "Europe/Paris", "Europe/Madrid",
                    "Europe/Rome", "Europe/Warsaw", "America/New_York", "America/Chicago",
                    "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Tokyo",
                    "Asia/Kolkata", "Asia/Singapore", "Australia/Sydney"]


def _campaign(campaign_id: int) -> Campaign:
    return db.session.get(Campaign, campaign_id) or abort(404)


def _all_lists() -> list[MailingList]:
    return db.session.scalars(select(MailingList).order_by(MailingList.name)).all()


def _send_at(form) -> datetime | None:
    raw = form.get("send_at", "").strip()
    if not raw:
        return None
    try:
        local = datetime.fromisoformat(raw)
    except ValueError:
        raise campaigns.CampaignError("the send time is not a valid date and time") from None
    try:
        return recurrence.local_to_utc(local.replace(tzinfo=None), form.get("timezone") or "UTC")
    except recurrence.RecurrenceError as exc:
        raise campaigns.CampaignError(str(exc)) from None


def _render_form(campaign: Campaign | None, form, error: str | None):
    return render_template("admin/campaign_form.html", campaign=campaign, form=form, error=error,
                           lists=_all_lists(), timezones=COMMON_TIMEZONES,
                           purposes=purposes.all_purposes(db.session),
                           attribute_names=attributes.known_names(db.session),
                           segments=segments.all_segments(db.session),
                           layouts=layouts.for_lists(db.session, [m.id for m in _all_lists()])), \
        400 if error else 200


def _layout_choice(form) -> int | None:
    raw = form.get("layout_id", "")
    return int(raw) if raw.isdigit() else None


@bp.get("/campaigns", endpoint="campaigns")  # the nav in admin/base.html links it
@role_required(Role.marketer)
def campaigns_index():
    """Every campaign, newest first."""
    rows = db.session.scalars(select(Campaign).order_by(Campaign.created_at.desc(),
                                                        Campaign.id.desc()).limit(200)).all()
    return render_template("admin/campaigns.html", campaigns=rows, local=_local)


@bp.route("/campaigns/new", methods=["GET", "POST"])
@role_required(Role.marketer)
def campaigns_new():
    """Write a campaign: draft, scheduled in the marketer's timezone, or recurring."""
    form = request.form
    if request.method == "GET":
        return _render_form(None, {"body_format": "markdown", "timezone": "UTC"}, None)
    try:
        mode = form.get("mode", "draft")
        list_ids = [int(x) for x in form.getlist("lists") if x.isdigit()]
        segment = segments.find(db.session, form.get("segment", "")) if form.get("segment") else None
        if segment is not None:
            list_ids = [segment.list_id]  # a segment is part of one list
        campaign = campaigns.create(
            db.session, subject=form.get("subject", ""), body=form.get("body", ""),
            body_format=form.get("body_format", "markdown"), name=form.get("name", "").strip(),
            list_ids=list_ids, now=utcnow(),
            send_at=_send_at(form) if mode == "schedule" else None,
            cron=form.get("cron", "").strip() or None if mode == "recurring" else None,
            timezone=form.get("timezone") or "UTC", created_by=actor(),
            limits=compose.Limits.from_config(current_app.config),
            purpose_id=int(form["purpose"]) if form.get("purpose", "").isdigit() else None,
            segment_id=segment.id if segment is not None else None,
            layout_id=_layout_choice(form))
        if mode == "schedule" and campaign.send_at is None:
            raise campaigns.CampaignError("give a send time to schedule")
        if mode == "recurring" and not campaign.cron:
            raise campaigns.CampaignError("give a cron expression for a recurring newsletter")
        db.session.commit()
    except campaigns.CampaignError as exc:
        db.session.rollback()
        return _render_form(None, form, str(exc))
    flash(f"Campaign saved ({campaign.status.value}).", "success")
    return redirect(url_for("admin.campaign", campaign_id=campaign.id))


@bp.get("/campaigns/<int:campaign_id>")
@role_required(Role.marketer)
def campaign(campaign_id: int):
    """Figures, progress, preview and the actions a campaign allows now."""
    item = _campaign(campaign_id)
    figures = campaigns.stats(db.session, item.id, utcnow())
    seen = analytics.for_campaign(db.session, item.id) if figures.total else None
    children = db.session.scalars(select(Campaign).where(Campaign.parent_id == item.id)
                                  .order_by(Campaign.occurrence_at.desc()).limit(20)).all()
    segment = db.session.get(Segment, item.segment_id) if item.segment_id else None
    # Before sending: how many it would reach if it went now (eligibility and segment).
    audience, no_address = None, []
    if item.status in (CampaignStatus.draft, CampaignStatus.scheduled, CampaignStatus.recurring):
        audience = segments.audience(db.session, [lst.id for lst in item.lists], item.segment_id,
                                     item.purpose_id)
        # CAN-SPAM asks commercial mail for the sender's postal address: say so before sending.
        if not current_app.config["NEWSLETTER_POSTAL_ADDRESS"]:
            no_address = [lst for lst in item.lists if not lst.postal_address]
    return render_template("admin/campaign.html", campaign=item, figures=figures, seen=seen,
                           link_clicks=clicks.counts(db.session, item.id),
                           counting=any(lst.count_clicks for lst in item.lists),
                           segment=segment, describe=segments.describe, audience=audience,
                           no_address=no_address, children=children, local=_local, lists=_all_lists(),
                           schedule_words=recurrence.describe(item.cron) if item.cron else None,
                           refreshing=item.status in (CampaignStatus.sending,
                                                      CampaignStatus.scheduled))


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@role_required(Role.marketer)
def campaign_edit(campaign_id: int):
    """Change content (and a series' schedule); refused once sending started."""
    item = _campaign(campaign_id)
    if item.status not in campaigns.EDITABLE:
        flash(f"A {item.status.value} campaign cannot be edited.", "error")
        return redirect(url_for("admin.campaign", campaign_id=item.id)), 303
    if request.method == "GET":
        form = {"name": item.name, "subject": item.subject, "body": item.body,
                "body_format": item.body_format, "timezone": item.timezone, "cron": item.cron or "",
                "lists": [str(lst.id) for lst in item.lists],
                "layout_id": str(item.layout_id or "")}
        return _render_form(item, form, None)
    form = request.form
    try:
        campaigns.edit(db.session, item, subject=form.get("subject", ""),
                       body=form.get("body", ""), body_format=form.get("body_format", "markdown"),
                       list_ids=[int(x) for x in form.getlist("lists") if x.isdigit()],
                       name=form.get("name", "").strip(),
                       limits=compose.Limits.from_config(current_app.config),
                       layout_id=_layout_choice(form))
        if item.status is CampaignStatus.recurring and form.get("cron", "").strip():
            campaigns.make_recurring(item, form["cron"].strip(), form.get("timezone") or "UTC",
                                     utcnow())
        db.session.commit()
    except campaigns.CampaignError as exc:
        db.session.rollback()
        return _render_form(item, form, str(exc))
    flash("Campaign saved.", "success")
    return redirect(url_for("admin.campaign", campaign_id=item.id))


@bp.get("/campaigns/<int:campaign_id>/preview")
@role_required(Role.marketer)
def campaign_preview(campaign_id: int):
    """The HTML part for a sample reader, or for one subscriber, for the sandboxed iframe."""
    item = _campaign(campaign_id)
    subscriber_id = request.args.get("subscriber", "")
    if subscriber_id:
        subscriber = db.session.get(Subscriber, int(subscriber_id)) \
            if subscriber_id.isdigit() else None
        if subscriber is None or not readers.on_lists(db.session, subscriber.email,
                                                      [m.id for m in item.lists]):
            abort(404)
        seen = request.args.get("seen", "")
        proof = proofs.preview_as(db.session, item, subscriber, current_app.config,
                                  actor=actor(), now=utcnow(),
                                  seen=int(seen) if seen.isdigit() else None)
        db.session.commit()
        response = make_response(proof.html)
        response.headers["Content-Security-Policy"] = PROOF_CSP
        return response
    try:
        html = proofs.preview(item, current_app.config)
    except campaigns.CampaignError as exc:
        html = f"<p>{exc}</p>"
    response = make_response(html)
    # Marketer HTML: its own strict policy, no scripts, shown only inside <iframe sandbox>.
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


@bp.post("/campaigns/<int:campaign_id>/preview-as")
@role_required(Role.marketer)
def campaign_preview_as(campaign_id: int):
    """The campaign as one subscriber gets it: subject, and the mail at two widths.

    A POST, so the address never lands in a URL (and an access log); it writes the audit row.
    """
    item = _campaign(campaign_id)
    email = request.form.get("email", "")
    try:
        subscriber = proofs.reader(db.session, item, email)
        proof = proofs.preview_as(db.session, item, subscriber, current_app.config,
                                  actor=actor(), now=utcnow())
        db.session.commit()
    except campaigns.CampaignError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.campaign", campaign_id=item.id)), 303
    return render_template("admin/campaign_proof.html", campaign=item, subscriber=subscriber,
                           proof=proof)


@bp.post("/campaigns/<int:campaign_id>/duplicate")
@role_required(Role.marketer)
def campaign_duplicate(campaign_id: int):
    """Copy into a new draft and open it."""
    copy = campaigns.duplicate(db.session, _campaign(campaign_id), now=utcnow(), created_by=actor())
    db.session.commit()
    flash(f"Copied into a new draft: {copy.name}.", "success")
    return redirect(url_for("admin.campaign", campaign_id=copy.id)), 303


@bp.post("/campaigns/<int:campaign_id>/<action>")
@role_required(Role.marketer)
def campaign_action(campaign_id: int, action: str):
    """send, schedule, pause, resume, cancel, test or welcome."""
    item = _campaign(campaign_id)
    now = utcnow()
    try:
        # Irreversible: the form's "I am sure" box is required (by the browser, and here).
        if action in CONFIRMED_ACTIONS and request.form.get("confirm") != "yes":
            raise campaigns.CampaignError(f"tick the box to confirm: {CONFIRMED_ACTIONS[action]}")
        if action == "send":
            campaigns.send_now(item, now)
            message = "Sending starts within seconds."
        elif action == "schedule":
            send_at = _send_at(request.form)
            if send_at is None:
                raise campaigns.CampaignError("give a send time")
            item.timezone = request.form.get("timezone") or item.timezone
            campaigns.schedule(item, send_at, now)
            message = "Scheduled."
        elif action == "pause":
            campaigns.pause(db.session, item, now)
            message = "Paused."
        elif action == "resume":
            campaigns.resume(db.session, item, now)
            message = "Resumed."
        elif action == "cancel":
            campaigns.cancel(db.session, item, now)
            message = "Cancelled."
        elif action == "test":
            addresses = [a.strip() for a in request.form.get("addresses", "").replace(",", " ")
                         .split() if a.strip()]
            as_email = request.form.get("as_subscriber", "").strip()
            reader = proofs.reader(db.session, item, as_email) if as_email else None
            count = proofs.test_send(db.session, item, addresses, current_app.config, now,
                                     as_subscriber=reader, actor=actor())
            message = f"Test sent to {count} address(es)" + (
                f", as {reader.email} would get it." if reader is not None else ".")
        elif action == "welcome":
            mailing_list = db.session.get(MailingList, int(request.form.get("list_id") or 0))
            if mailing_list is None:
                raise campaigns.CampaignError("choose a list")
            campaigns.set_welcome(db.session, mailing_list, item)
            message = f"This is now the welcome message of {mailing_list.name}."
        else:
            abort(404)
        db.session.commit()
    except campaigns.CampaignError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.campaign", campaign_id=item.id)), 303
    if action == "test":
        _send_test_mail_now()
    flash(message, "success")
    return redirect(url_for("admin.campaign", campaign_id=item.id)), 303


def _send_test_mail_now() -> None:
    """Hand the just-committed test copies to the transport (the worker would retry them)."""
    from newsletter.sending import mailer

    mailer.send_committed(db.session, current_app.config, None, utcnow())


def _local(moment: datetime | None, tz_name: str) -> str:
    """A UTC time on the campaign's wall clock, for display, and on the reader's own clock
    when that is another zone (AdminUser.timezone)."""
    if moment is None:
        return ""
    shown = f"{recurrence.utc_to_local(moment, tz_name):%Y-%m-%d %H:%M} {tz_name}"
    mine = getattr(current_user, "timezone", None) or "UTC"
    if mine != tz_name:
        try:
            shown += f" ({recurrence.utc_to_local(moment, mine):%Y-%m-%d %H:%M} your time, {mine})"
        except recurrence.RecurrenceError:
            pass
    return shown
