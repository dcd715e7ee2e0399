"""Admin: new uses of data (privacy role): add a purpose, announce it, and per purpose how many
were told in each mode and how many consent now."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from newsletter.extensions import db
from newsletter.models import Purpose, Role, utcnow
from newsletter.privacy import purposes
from newsletter.web.admin.blueprint import actor, bp, role_required


def _page(form: dict, status: int = 200):
    return render_template("admin/purposes.html", purposes=purposes.all_purposes(db.session),
                           stats=purposes.stats(db.session), form=form,
                           default_countries=current_app.config[
                               "NEWSLETTER_PURPOSE_OPT_IN_COUNTRIES"]), status


@bp.get("/purposes")
@role_required(Role.privacy)
def purposes_index():
    return _page({})


@bp.post("/purposes")
@role_required(Role.privacy)
def purposes_create():
    form = request.form
    try:
        purpose = purposes.create(
            db.session, slug=form.get("slug", ""), name=form.get("name", ""),
            description=form.get("description", "")[:5000], now=utcnow(),
            config=current_app.config, actor=actor(),
            opt_in_countries=form.get("opt_in_countries", "").strip() or None)
    except purposes.PurposeError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _page(form, 400)
    db.session.commit()
    flash(f"Purpose {purpose.slug} added. Announce it to tell the subscribers.", "success")
    return redirect(url_for("admin.purposes_index")), 303


@bp.post("/purposes/<int:purpose_id>/announce")
@role_required(Role.privacy)
def purposes_announce(purpose_id: int):
    purpose = db.session.get(Purpose, purpose_id)
    if purpose is None:
        flash("No such purpose.", "error")
        return redirect(url_for("admin.purposes_index")), 303
    if request.form.get("confirm") != purpose.slug:
        flash(f"Type the slug {purpose.slug} to confirm the announcement.", "error")
        return _page({}, 400)
    queued = purposes.announce(db.session, current_app.config, purpose, utcnow(), actor(),
                               seconds=current_app.config["NEWSLETTER_ANNOUNCE_REQUEST_SECONDS"])
    remaining = purposes.untold(db.session, purpose)
    later = (f" The other {remaining} are queued by the scheduler within minutes."
             if remaining else "")
    flash(f"{queued} announcement(s) queued; nobody already told is mailed again.{later}",
          "success")
    return redirect(url_for("admin.purposes_index")), 303
