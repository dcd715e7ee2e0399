"""Admin: the layout library (each list's layouts: write in HTML or MJML, start from a built-in,
mark one default, see it with sample content, delete one no unsent campaign uses).

Routes at the top; each parses the form, calls one function of newsletter.sending.layouts and renders.
"""

from __future__ import annotations

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Layout, MailingList, Role, utcnow
from newsletter.sending import compose, layouts, proofs, readers
from newsletter.web.admin.blueprint import actor, bp, role_required
from newsletter.web.admin.campaigns import PROOF_CSP

# GET  /admin/layouts                    every list's layouts, and the starters to begin from
# GET  /admin/layouts/new?list=ID[&starter=SLUG]   form;  POST creates
# GET  /admin/layouts/<id>               form;  POST saves
# GET  /admin/layouts/<id>/preview       the layout around sample content (sandboxed iframe)
# POST /admin/layouts/<id>/default       make it its list's default
# POST /admin/layouts/<id>/delete        remove it (refused while an unsent campaign uses it)


def _layout(layout_id: int) -> Layout:
    return db.session.get(Layout, layout_id) or abort(404)


def _list(list_id) -> MailingList:
    return db.session.get(MailingList, int(list_id)) if str(list_id).isdigit() else None


def _render_form(layout: Layout | None, mailing_list: MailingList, form, error: str | None):
    return render_template("admin/layout_form.html", layout=layout, mailing_list=mailing_list,
                           form=form, error=error, starters=layouts.STARTERS), \
        400 if error else 200


def _save(layout: Layout | None, mailing_list: MailingList):
    """The POST of both forms: save, or show the form again with the error and the source."""
    form = request.form
    try:
        saved = layouts.save(
            db.session, mailing_list=mailing_list, name=form.get("name", ""),
            source_format=form.get("source_format", "html"), source=form.get("source", ""),
            now=utcnow(), actor=actor(), make_default=form.get("is_default") == "yes",
            samples=readers.sample_readers(db.session, [mailing_list]),
            limits=compose.Limits.from_config(current_app.config), layout=layout)
        db.session.commit()
    except layouts.LayoutError as exc:
        db.session.rollback()
        return _render_form(layout, mailing_list, form, str(exc))
    flash(f"Layout {saved.name!r} saved.", "success")
    return redirect(url_for("admin.layout_edit", layout_id=saved.id)), 303


@bp.get("/layouts", endpoint="layouts")  # the nav in admin/base.html links it
@role_required(Role.marketer)
def layouts_index():
    """Each list with its layouts."""
    lists = db.session.scalars(select(MailingList).order_by(MailingList.name)).all()
    return render_template("admin/layouts.html", lists=lists, starters=layouts.STARTERS,
                           library={m.id: layouts.for_list(db.session, m.id) for m in lists})


@bp.route("/layouts/new", methods=["GET", "POST"])
@role_required(Role.marketer)
def layout_new():
    """A new layout for a list, from a starter or from scratch."""
    mailing_list = _list(request.values.get("list", "")) or abort(404)
    if request.method == "POST":
        return _save(None, mailing_list)
    begin = layouts.starter(request.args.get("starter", "simple")) or layouts.STARTERS[0]
    form = {"name": begin.name, "source_format": begin.source_format.value,
            "source": begin.source()}
    return _render_form(None, mailing_list, form, None)


@bp.route("/layouts/<int:layout_id>", methods=["GET", "POST"])
@role_required(Role.marketer)
def layout_edit(layout_id: int):
    """Change a layout: every save compiles (MJML) and checks it again."""
    layout = _layout(layout_id)
    if request.method == "POST":
        return _save(layout, layout.mailing_list)
    form = {"name": layout.name, "source_format": layout.source_format.value,
            "source": layout.source, "is_default": "yes" if layout.is_default else ""}
    return _render_form(layout, layout.mailing_list, form, None)


@bp.get("/layouts/<int:layout_id>/preview")
@role_required(Role.marketer)
def layout_preview(layout_id: int):
    """The saved layout around sample content, for a sample reader."""
    html = proofs.layout_sample(_layout(layout_id), current_app.config)
    response = make_response(html)
    response.headers["Content-Security-Policy"] = PROOF_CSP
    return response


@bp.post("/layouts/<int:layout_id>/default")
@role_required(Role.marketer)
def layout_default(layout_id: int):
    """Campaigns of the list that choose no layout are sent in this one from now on."""
    layout = _layout(layout_id)
    layouts.set_default(db.session, layout)
    db.session.commit()
    flash(f"{layout.name!r} is now the default layout of {layout.mailing_list.name}.", "success")
    return redirect(url_for("admin.layouts")), 303


@bp.post("/layouts/<int:layout_id>/delete")
@role_required(Role.marketer)
def layout_delete(layout_id: int):
    """Remove a layout."""
    layout = _layout(layout_id)
    name = layout.name
    try:
        layouts.delete(db.session, layout)
        db.session.commit()
    except layouts.LayoutError as exc:
        db.session.rollback()
        flash(f"{name!r} was not deleted: {exc}", "error")
        return redirect(url_for("admin.layout_edit", layout_id=layout_id)), 303
    flash(f"Layout {name!r} deleted.", "success")
    return redirect(url_for("admin.layouts")), 303
