"""Admin: subscribers (search, filter, detail with consent history, add, edit, unsubscribe)
and the CSV upload."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from newsletter.extensions import db
from newsletter.i18n import LANGUAGES
from newsletter.models import (
    MAX_ID,
    AuditEvent,
    ConsentMethod,
    MailingList,
    Role,
    Subscriber,
    Subscription,
    utcnow,
)
from newsletter.privacy.audit import viewed
from newsletter.sending import eligibility, mailer
from newsletter.subscribers import (
    attributes,
    bulk,
    import_formats,
    import_staging,
    imports,
    preferences,
    subscriptions,
    timeline,
)
from newsletter.subscribers.search import SubscriberFilter
from newsletter.web.admin import subscribers_bulk
from newsletter.web.admin.blueprint import actor, bp, role_required

PAGE = 50


def _all_lists():
    return db.session.scalars(select(MailingList).order_by(MailingList.name)).all()


@bp.get("/subscribers")
@role_required(Role.marketer, Role.privacy)
def subscribers():
    where = SubscriberFilter.of(request.args.get("q"), request.args.get("list_id", type=int),
                                request.args.get("status"))
    page = min(max(request.args.get("page", 1, type=int), 1), 1_000_000)
    statement = where.query()
    total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = db.session.scalars(
        statement.order_by(Subscriber.id.desc()).limit(PAGE).offset((page - 1) * PAGE)
        .options(selectinload(Subscriber.subscriptions).joinedload(Subscription.mailing_list))
    ).all()
    suppressed = set(db.session.scalars(select(Subscriber.id).where(
        Subscriber.id.in_([row.id for row in rows]), eligibility.suppressed())))
    return render_template("admin/subscribers.html", rows=rows, total=total, page=page, pages=
                           max((total + PAGE - 1) // PAGE, 1), q=where.q, list_id=where.list_id,
                           status=where.status, lists=_all_lists(), statuses=where.statuses(),
                           suppressed=suppressed, may=subscribers_bulk.may,
                           max_chosen=bulk.MAX_CHOSEN)


@bp.get("/subscribers/<int:subscriber_id>")
@role_required(Role.marketer, Role.privacy)
def subscribers_detail(subscriber_id: int):
    subscriber = db.session.get(Subscriber, subscriber_id) or abort(404)
    viewed(db.session, actor=actor(), subject_type="subscriber", subject_id=subscriber.id,
           now=utcnow())
    db.session.commit()
    history = timeline.for_subscriber(db.session, subscriber,
                                      request.args.get("page", 1, type=int))
    audit = db.session.scalars(select(AuditEvent).where(
        AuditEvent.subject_type == "subscriber", AuditEvent.subject_id == str(subscriber.id))
        .order_by(AuditEvent.at)).all()
    return render_template("admin/subscribers_detail.html", subscriber=subscriber,
                           history=history, audit=audit,
                           countries=dict(subscriptions.country_choices()))


@bp.route("/subscribers/new", methods=["GET", "POST"])
@role_required(Role.marketer)
def subscribers_new():
    form, error, known, error_field = request.form, None, None, ""
    if request.method == "POST":
        known = _known(form.get("email", ""))
    if known is not None:
        # This form is for new people: a known address is left alone, and its page linked.
        error = f"{known.email} is already a subscriber."
    elif request.method == "POST":
        chosen = [m for m in _all_lists() if str(m.id) in form.getlist("list")]
        existing = form.get("consent_basis") == "existing"
        try:
            outcome = subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
                email=form.get("email", ""), lists=chosen, method=ConsentMethod.admin,
                name=form.get("name", ""), country=form.get("country") or None,
                existing_consent=existing, actor=actor(),
                wording=f"Added by {actor()}: "
                        + ("consent given before (existing)" if existing else "double opt-in"),
            ), now=utcnow(), config=current_app.config)
        except subscriptions.SubscribeError as exc:
            db.session.rollback()
            error, error_field = str(exc), exc.field_name
        else:
            if outcome.suppressed:
                flash("This address is on the suppression list: nothing was done.", "error")
                return redirect(url_for("admin.subscribers"))
            db.session.flush()
            subscriber_id = outcome.subscriber.id
            mailer.commit_and_send(db.session, current_app.config, outcome.mails, utcnow())
            flash("Subscriber added." + (" A confirmation mail was sent." if outcome.pending else ""),
                  "success")
            return redirect(url_for("admin.subscribers_detail", subscriber_id=subscriber_id))
    return render_template("admin/subscribers_form.html", form=form, error=error, lists=_all_lists(),
                           countries=subscriptions.country_choices(), known=known,
                           error_field=error_field), 409 if known else 400 if error else 200


def _known(raw_email: str) -> Subscriber | None:
    """The subscriber with this address, if there is one (an invalid address: None)."""
    try:
        email = subscriptions.normalise_email(raw_email)
    except subscriptions.SubscribeError:
        return None
    return db.session.scalar(select(Subscriber).where(Subscriber.email == email))


@bp.route("/subscribers/<int:subscriber_id>/edit", methods=["GET", "POST"])
@role_required(Role.marketer)
def subscribers_edit(subscriber_id: int):
    subscriber = db.session.get(Subscriber, subscriber_id) or abort(404)
    error = None
    if request.method == "POST":
        try:
            preferences.edit_profile(db.session, subscriber, name=request.form.get("name", ""),
                                     country=request.form.get("country") or None, actor=actor(),
                                     language=request.form.get("language") or None, now=utcnow())
            db.session.commit()
            flash("Saved.", "success")
            return redirect(url_for("admin.subscribers_detail", subscriber_id=subscriber_id))
        except subscriptions.SubscribeError as exc:
            db.session.rollback()
            error = str(exc)
    return render_template("admin/subscribers_form.html", subscriber=subscriber, error=error,
                           form=request.form if error else {"name": subscriber.name,
                                                            "country": subscriber.country or "",
                                                            "language": subscriber.language or ""},
                           countries=subscriptions.country_choices(),
                           languages=LANGUAGES), 400 if error else 200


@bp.post("/subscribers/<int:subscriber_id>/attributes")
@role_required(Role.marketer)
def subscribers_attributes(subscriber_id: int):
    subscriber = db.session.get(Subscriber, subscriber_id) or abort(404)
    form = request.form
    # Each held attribute is a field "attr:<name>" (empty removes it); one new pair may be added.
    held = subscriber.attributes or {}
    changes = {key[5:]: form[key].strip() for key in form
               if key.startswith("attr:") and form[key].strip() != str(held.get(key[5:], ""))}
    new_name = form.get("new_name", "").strip()
    if new_name:
        changes[new_name] = form.get("new_value", "")
    try:
        changed = attributes.set_attributes(db.session, subscriber, changes, actor=actor(),
                                            now=utcnow())
    except subscriptions.SubscribeError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.subscribers_detail", subscriber_id=subscriber_id))
    db.session.commit()
    flash(f"Attributes saved ({', '.join(changed)})." if changed else "Nothing changed.", "success")
    return redirect(url_for("admin.subscribers_detail", subscriber_id=subscriber_id))


@bp.post("/subscribers/<int:subscriber_id>/unsubscribe")
@role_required(Role.marketer)
def subscribers_unsubscribe(subscriber_id: int):
    subscriber = db.session.get(Subscriber, subscriber_id) or abort(404)
    list_id = request.form.get("list_id", type=int)
    subscriptions.unsubscribe(
        db.session, subscriber, list_ids=[list_id] if list_id else None,
        method=ConsentMethod.admin, now=utcnow(),
        suppression_key=current_app.config["NEWSLETTER_SUPPRESSION_KEY"],
        wording=f"Unsubscribed by {actor()}" + ("" if list_id else " from everything"),
        actor=actor())
    db.session.commit()
    flash("Unsubscribed.", "success")
    return redirect(url_for("admin.subscribers_detail", subscriber_id=subscriber_id))


# Uploads may be far larger than MAX_CONTENT_LENGTH (a million rows is tens of MB); Werkzeug spools
# them to a temporary file, and the import streams from it. Raised only for a logged-in user, and
# before CSRFProtect reads the form (URL value preprocessors run before before_request).
# The ceiling is NEWSLETTER_IMPORT_MAX_BYTES.


@bp.url_value_preprocessor
def _allow_large_import(endpoint: str | None, values: dict | None) -> None:
    if endpoint == "admin.subscribers_import" and current_user.is_authenticated:
        request.max_content_length = current_app.config["NEWSLETTER_IMPORT_MAX_BYTES"]


def _import_input():
    """(bytes to read, file name, the kept dry-run file or None): a new upload, or the file a
    dry run kept ("Import this file now"), or (None, None, None)."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return upload.stream, upload.filename, None
    kept = import_staging.path(current_app.instance_path, request.form.get("staged", ""))
    if kept is not None:
        return open(kept, "rb"), request.form.get("source", "")[:200], kept
    return None, None, None


def _choices(form, width: int) -> list[tuple[str, str]]:
    """The mapping as posted: per column `column-<n>` (what it holds), `attribute-<n>` (a name)."""
    return [(form.get(f"column-{n}", ""), form.get(f"attribute-{n}", "")[:80])
            for n in range(width)]


def _preview(kept, encoding: str | None) -> tuple[list[str], list[list[str]]]:
    """The header and first rows of a kept file (the mapping step's table)."""
    with open(kept, "rb") as binary:
        return imports.preview(imports.open_csv(binary, encoding))


@bp.route("/import", methods=["GET", "POST"])
@role_required(Role.marketer)
def subscribers_import():
    report, error, staged, form, mapping, choices = None, None, None, {}, None, None
    if request.method == "POST":
        list_id = request.form.get("list_id", type=int)
        list_id = list_id if list_id and 0 < list_id <= MAX_ID else None
        dry_run = "dry_run" in request.form
        encoding = request.form.get("encoding") or None
        binary, source, kept = _import_input()
        # The mapping step's answer (always for a kept file: the preview staged it).
        mapped = "mapping" in request.form and kept is not None
        if binary is None or list_id is None:
            error = ("The file of that dry run is no longer kept: choose it again."
                     if request.form.get("staged") else "Choose a list and a CSV file.")
        else:
            try:
                layout = None
                if mapped:
                    header, _ = _preview(kept, encoding)
                    choices = _choices(request.form, len(header))
                    layout = import_formats.mapped(header, choices)
                elif "map_columns" in request.form:
                    raise imports.UnrecognisedColumns("")  # the marketer asked to map them
                # Streamed: the upload is read line by line, never as one string; its encoding
                # is the one chosen, or detected on a sample (refused when unclear).
                stream = imports.open_csv(binary, encoding)
                report = imports.import_csv(
                    db.session, stream, list_id, consent_basis=request.form.get("consent_basis", ""),
                    now=utcnow(), config=current_app.config, dry_run=dry_run,
                    source=source, actor=actor(), layout=layout)
                db.session.commit()
            except imports.UnrecognisedColumns as exc:
                # The mapping step: the file is kept (no second upload) and previewed.
                db.session.rollback()
                staged = kept.stem if kept else import_staging.stage(current_app.instance_path,
                                                                     binary)
                mapping, error = _mapping_step(staged, encoding, None, str(exc))
            except import_formats.MappingError as exc:
                db.session.rollback()
                staged = kept.stem
                mapping, error = _mapping_step(staged, encoding, choices, "")
                error = error or f"Check the mapping: {exc}."
            except imports.ImportFormatError as exc:
                db.session.rollback()
                error = str(exc)
            if report is not None and dry_run:
                staged = kept.stem if kept else import_staging.stage(current_app.instance_path, binary)
            if kept is not None:
                binary.close()
                if report is not None and not dry_run:
                    import_staging.discard(current_app.instance_path, kept.stem)
        form = {"list_id": list_id, "consent_basis": request.form.get("consent_basis", ""),
                "encoding": request.form.get("encoding", ""), "source": source,
                "dry_run": dry_run,
                # A mapped dry run's "Import this file now" carries the same mapping.
                "mapping": choices if report else None}
    return render_template("admin/subscribers_import.html", lists=_all_lists(), report=report,
                           error=error, staged=staged, form=form, mapping=mapping,
                           mappable=import_formats.MAPPABLE), 400 if error else 200


# The mapping step shows a select per column; a file wider than this is no mailing-list export.
MAX_COLUMNS = 200


def _mapping_step(staged: str, encoding: str | None, choices: list[tuple[str, str]] | None,
                  reason: str) -> tuple[dict | None, str | None]:
    """(what the mapping step shows, None) or (None, why it cannot be shown): the first rows
    and, per column, the choice (the posted one when the marketer is fixing a mapping, else a
    guess)."""
    try:
        header, rows = _preview(import_staging.path(current_app.instance_path, staged), encoding)
    except imports.ImportFormatError as exc:
        return None, str(exc)
    if len(header) > MAX_COLUMNS:
        return None, f"the file has {len(header)} columns; at most {MAX_COLUMNS} can be mapped"
    return {"header": header, "rows": rows, "reason": reason,
            "choices": choices or import_formats.guess(header, rows)}, None
