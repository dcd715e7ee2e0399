"""Admin: mailing lists (create, edit)."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.i18n import LANGUAGES
from newsletter.models import (
    Campaign,
    MailingList,
    Role,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from newsletter.sending import eligibility
from newsletter.subscribers import exports, form_fields
from newsletter.subscribers import lists as mailing_lists
from newsletter.web import csv_download, embed
from newsletter.web.admin.blueprint import actor, bp, role_required


def _fields(form) -> mailing_lists.ListFields:
    return mailing_lists.ListFields(
        name=form.get("name", ""), description=form.get("description", ""),
        sender_name=form.get("sender_name", ""), sender_address=form.get("sender_address", ""),
        public="public" in form, archive="archive" in form, double_opt_in="double_opt_in" in form,
        count_clicks="count_clicks" in form,
        default_language=form.get("default_language") or None,
        postal_address=form.get("postal_address", ""),
    )


@bp.get("/lists")
@role_required(Role.marketer)
def lists():
    # Who would get the next issue: confirmed, active and not suppressed (eligibility.py).
    counts = dict(db.session.execute(
        select(Subscription.list_id, func.count(Subscription.id)).join(Subscriber)
        .where(Subscription.status == SubscriptionStatus.confirmed, eligibility.active())
        .group_by(Subscription.list_id)
    ).all())
    rows = db.session.scalars(select(MailingList).order_by(MailingList.name)).all()
    return render_template("admin/lists.html", lists=rows, counts=counts)


@bp.route("/lists/new", methods=["GET", "POST"])
@role_required(Role.marketer)
def lists_new():
    form, error = request.form, None
    if request.method == "POST":
        try:
            created = mailing_lists.create_list(db.session, form.get("slug", ""), _fields(form),
                                                now=utcnow())
            db.session.commit()
            flash(f"List {created.name} created.", "success")
            return redirect(url_for("admin.lists"))
        except mailing_lists.ListError as exc:
            db.session.rollback()
            error = str(exc)
    defaults = form if request.method == "POST" else {"double_opt_in": "on"}
    return render_template("admin/lists_form.html", list=None, form=defaults, error=error,
                           languages=LANGUAGES,
                           default_postal_address=current_app.config["NEWSLETTER_POSTAL_ADDRESS"]), \
        400 if error else 200


@bp.route("/lists/<int:list_id>", methods=["GET", "POST"])
@role_required(Role.marketer)
def lists_edit(list_id: int):
    mailing_list = db.session.get(MailingList, list_id) or abort(404)
    error = None
    if request.method == "POST":
        try:
            mailing_lists.update_list(db.session, mailing_list, _fields(request.form))
            db.session.commit()
            flash("Saved.", "success")
            return redirect(url_for("admin.lists_edit", list_id=list_id))
        except mailing_lists.ListError as exc:
            db.session.rollback()
            error = str(exc)
    return _edit_page(mailing_list, form=request.form if error else None, error=error)


def _field_rows(form) -> list[dict]:
    """The form-field rows as typed (`fields-<n>-name|label|type|required|remove`), in order;
    a row left blank or marked "remove" is no field."""
    numbers = sorted({int(key.split("-")[1]) for key in form
                      if key.startswith("fields-") and key.count("-") == 2
                      and key.split("-")[1].isdigit() and len(key.split("-")[1]) < 4})
    rows = []
    for n in numbers:
        row = {part: form.get(f"fields-{n}-{part}", "").strip()
               for part in ("name", "label", "type", "required", "remove")}
        if row["remove"] or not (row["name"] or row["label"]):
            continue
        rows.append({**row, "required": bool(row["required"])})
    return rows


@bp.post("/lists/<int:list_id>/fields")
@role_required(Role.marketer)
def lists_fields(list_id: int):
    mailing_list = db.session.get(MailingList, list_id) or abort(404)
    rows = _field_rows(request.form)
    try:
        form_fields.set_fields(mailing_list, rows)
    except mailing_lists.ListError as exc:
        db.session.rollback()
        # Every row as typed, with the reason: nothing is lost.
        return _edit_page(mailing_list, field_rows=rows, fields_error=str(exc))
    db.session.commit()
    flash("Form fields saved.", "success")
    return redirect(url_for("admin.lists_edit", list_id=list_id) + "#form-fields")


def _edit_page(mailing_list: MailingList, *, form=None, error: str | None = None,
               field_rows: list[dict] | None = None, fields_error: str | None = None):
    form = form if form is not None else {
        "name": mailing_list.name, "description": mailing_list.description,
        "sender_name": mailing_list.sender_name, "sender_address": mailing_list.sender_address,
        "default_language": mailing_list.default_language,
        "postal_address": mailing_list.postal_address,
        **{k: "on" for k in ("public", "archive", "double_opt_in", "count_clicks")
           if getattr(mailing_list, k)},
    }
    if field_rows is None:
        field_rows = [vars(f) for f in form_fields.of_list(mailing_list)]
    welcome = None
    if mailing_list.welcome_campaign_id is not None:
        welcome = db.session.get(Campaign, mailing_list.welcome_campaign_id)
    embeddable = mailing_list.public and mailing_list.double_opt_in
    return render_template("admin/lists_form.html", list=mailing_list, form=form, error=error,
                           welcome=welcome, embeddable=embeddable, languages=LANGUAGES,
                           default_postal_address=current_app.config["NEWSLETTER_POSTAL_ADDRESS"],
                           field_rows=field_rows, fields_error=fields_error,
                           field_types=form_fields.TYPES,
                           snippet=embed.snippet(mailing_list) if embeddable else ""), \
        400 if error or fields_error else 200


@bp.get("/lists/<int:list_id>/export.csv")
@role_required(Role.marketer)
def lists_export(list_id: int):
    mailing_list = db.session.get(MailingList, list_id) or abort(404)
    lines = exports.export_list(db.session, mailing_list, actor=actor(), now=utcnow())
    return csv_download(lines, f"{mailing_list.slug}-subscribers.csv")
