"""Subscribing and leaving: subscribe, confirm, unsubscribe, resubscribe, preferences, purge.

Domain code: takes a session, plain values, a config mapping and `now`; never touches
flask.request. `subscribe()` is a chain of named steps read top to bottom (Mailman's
app/subscriptions.py `_step_*`). A grant is recorded as a ConsentEvent when it is complete: at
confirmation for double opt-in, at once when the caller states an existing consent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import pycountry
from sqlalchemy import JSON, ColumnElement, bindparam, case, cast, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter import tokens
from newsletter.i18n import normalise
from newsletter.integrations import webhooks
from newsletter.models import (
    ConsentMethod,
    MailingList,
    OutboundMail,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    UTCDateTime,
    savepoint,
)
from newsletter.privacy import audit, consent
from newsletter.sending import campaigns
from newsletter.subscribers import messages, suppression
from newsletter.subscribers.addresses import SubscribeError, normalise_email

# C0 and C1 control characters (CR and LF among them): they have no place in a name, and in a
# header they would start a new one.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean_text(value: str | None, field_name: str, max_length: int = 200) -> str:
    """Trim a free-text value; refuse CR/LF and other control characters.

    >>> clean_text("  Ada Lovelace ", "name")
    'Ada Lovelace'
    """
    value = (value or "").strip()
    if _CONTROL.search(value):
        raise SubscribeError(f"The {field_name} must not contain line breaks or control characters.",
                             field_name)
    if len(value) > max_length:
        raise SubscribeError(f"The {field_name} is longer than {max_length} characters.", field_name)
    return value


@functools.cache
def country_choices() -> tuple[tuple[str, str], ...]:
    """ISO 3166-1 alpha-2 codes with their names, sorted by name (made once: every subscribe
    request asks for it)."""
    return tuple(sorted(((c.alpha_2, c.name) for c in pycountry.countries), key=lambda c: c[1]))


def clean_country(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code (upper case), None when empty; raise SubscribeError otherwise.

    >>> clean_country(" de ")
    'DE'
    """
    value = (value or "").strip().upper()
    if not value:
        return None
    if len(value) != 2 or pycountry.countries.get(alpha_2=value) is None:
        raise SubscribeError("Choose a country from the list.", "country")
    return value


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this (already normalised) address, if any."""
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


# --- subscribe ----------------------------------------------------------------------------------


@dataclass
class SubscribeRequest:
    """What somebody asked for, from the form, the API, the CLI or an import."""

    email: str
    lists: list[MailingList]
    method: ConsentMethod = ConsentMethod.form
    name: str = ""
    country: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    wording: str = ""
    # The language the person used (the form's page language, an import column, the API).
    language: str | None = None
    # The caller states a consent given elsewhere (API/import `existing`): no confirmation mail.
    existing_consent: bool = False
    # A subscriber resubscribing through their own link may lift their own unsubscribe-all.
    lifts_own_unsubscribe: bool = False
    send_welcome: bool = True
    # Who acted for the person (an admin, an API token, the CLI): audited. None: the person.
    actor: str | None = None
    # Typed answers to the lists' own form fields (form_fields.py): like the name, they only
    # fill names the subscriber lacks (see _subscriber_upsert).
    attributes: dict = field(default_factory=dict)


@dataclass
class SubscribeOutcome:
    """What subscribe() did; the public answer never depends on it (no enumeration)."""

    subscriber: Subscriber | None = None
    confirmed: list[Subscription] = field(default_factory=list)  # active now
    pending: list[Subscription] = field(default_factory=list)  # waiting for the confirm link
    already: list[Subscription] = field(default_factory=list)  # were active before
    mails: list[OutboundMail] = field(default_factory=list)  # queued in this transaction
    suppressed: bool = False
    created: bool = False


def subscribe(session: Session, request: SubscribeRequest, *, now: datetime,
              config: Mapping) -> SubscribeOutcome:
    """Subscribe an address to lists: double opt-in unless the list or the caller says otherwise."""
    outcome = SubscribeOutcome()
    request = _step_sanity_checks(request)
    if _step_suppression_check(session, request, config, now, outcome):
        return outcome
    subscriber = _step_find_or_create_subscriber(session, request, now, config, outcome)
    to_confirm = _step_subscribe_to_lists(session, subscriber, request, now, config, outcome)
    _step_queue_confirmation(session, subscriber, to_confirm, now, config, outcome)
    _step_audit(session, subscriber, request, now)
    _step_tell_webhooks(session, subscriber, outcome, now)
    return outcome


def _step_tell_webhooks(session: Session, subscriber: Subscriber, outcome: SubscribeOutcome,
                        now: datetime) -> None:
    joined = outcome.confirmed + outcome.pending
    if joined:
        webhooks.emit(session, webhooks.Event.subscribed, lambda: {
            "subscriber_id": subscriber.id, "email": subscriber.email,
            "lists": [{"slug": s.mailing_list.slug, "status": s.status.value} for s in joined]},
            now)


def _step_audit(session: Session, subscriber: Subscriber, request: SubscribeRequest,
                now: datetime) -> None:
    # A person's own subscription is proven by its ConsentEvent; somebody acting for them is
    # audited as well.
    if request.actor is not None:
        session.flush()
        audit.record(session, actor=request.actor, action="subscriber.add",
                     subject_type="subscriber", subject_id=subscriber.id, now=now,
                     detail={"lists": [m.slug for m in request.lists],
                             "consent_basis": "existing" if request.existing_consent
                             else "double-opt-in", "method": request.method.value})


def _step_sanity_checks(request: SubscribeRequest) -> SubscribeRequest:
    if not request.lists:
        raise SubscribeError("Choose at least one list.", "lists")
    request.email = normalise_email(request.email)
    request.name = clean_text(request.name, "name")
    request.country = clean_country(request.country)
    request.wording = clean_text(request.wording.replace("\n", " "), "wording", 2000)
    request.user_agent = (request.user_agent or "")[:512] or None
    return request


def _step_suppression_check(session: Session, request: SubscribeRequest, config: Mapping,
                            now: datetime, outcome: SubscribeOutcome) -> bool:
    """Stop (True) for a suppressed address: nothing stored, no mail, the usual answer."""
    key = config["NEWSLETTER_SUPPRESSION_KEY"]
    row = session.scalar(select(Suppression).where(
        Suppression.email_hash == suppression.email_hash(key, request.email)))
    if row is None:
        return False
    if request.lifts_own_unsubscribe and row.reason is SuppressionReason.unsubscribe_all:
        # Lifted for real only when the fresh confirmation is clicked (see confirm()).
        return False
    if row.reason is SuppressionReason.erasure and _own_double_opt_in(request):
        # An erased person may come back on their own: the click on the mailed confirm link
        # proves the address and is the fresh consent that lifts the suppression (confirm()).
        return False
    outcome.suppressed = True
    return True


def _own_double_opt_in(request: SubscribeRequest) -> bool:
    """The person asks for themselves, and every list will mail a confirm link first."""
    return (request.actor is None and not request.existing_consent
            and all(m.double_opt_in for m in request.lists))


def _step_find_or_create_subscriber(session: Session, request: SubscribeRequest, now: datetime,
                                    config: Mapping, outcome: SubscribeOutcome) -> Subscriber:
    # One statement whether the address is new or known (a known address must cost what a new
    # one does: no enumeration by timing), on the unique email index. When two identical
    # requests race, the second's insert waits on the first's index entry, then updates the
    # row the first committed.
    statement = _subscriber_upsert(session.get_bind().dialect.name)
    subscriber = session.scalars(statement, {
        "email": request.email, "name": request.name, "country": request.country,
        "language": normalise(request.language), "attributes": request.attributes or {},
        "email_hash": suppression.email_hash(config["NEWSLETTER_SUPPRESSION_KEY"], request.email),
        "status": SubscriberStatus.pending, "created_at": now, "updated_at": now,
    }, execution_options={"populate_existing": True}).one()
    outcome.created = subscriber.created_at == now
    outcome.subscriber = subscriber
    return subscriber


def _insert(dialect: str, model):
    """The dialect's INSERT, which has ON CONFLICT (PostgreSQL and SQLite alike)."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


# The two upserts of the subscribe form are built once per dialect (and number of lists) with
# bound parameters, so SQLAlchemy compiles each once, not on every request.
@functools.cache
def _subscriber_upsert(dialect: str):
    columns = ("email", "name", "country", "language", "attributes", "email_hash", "status",
               "created_at", "updated_at")
    statement = _insert(dialect, Subscriber).values(
        {c: bindparam(c, type_=JSON) if c == "attributes" else bindparam(c) for c in columns})
    # Only blanks are filled: a stranger who knows an address must not rename its owner, nor
    # change an attribute the owner holds (the held value wins the merge). In the same
    # statement, so a known address costs what a new one does.
    return statement.on_conflict_do_update(index_elements=[Subscriber.email], set_={
        "name": case((func.coalesce(Subscriber.name, "") == "", statement.excluded.name),
                     else_=Subscriber.name),
        "country": func.coalesce(Subscriber.country, statement.excluded.country),
        "language": func.coalesce(Subscriber.language, statement.excluded.language),
        "attributes": _fill_blanks(dialect, statement.excluded.attributes, Subscriber.attributes),
    }).returning(Subscriber)


def _fill_blanks(dialect: str, new: ColumnElement, held: ColumnElement) -> ColumnElement:
    """JSON objects merged with `held` winning: jsonb `||` takes the right side's value, and
    SQLite's json_patch (RFC 7396) the patch's (held values are never null, so nothing is
    removed)."""
    if dialect == "postgresql":
        return cast(cast(new, postgresql.JSONB).op("||")(cast(held, postgresql.JSONB)), JSON)
    return func.json_patch(new, held)


_SUBSCRIPTION_COLUMNS = ("subscriber_id", "list_id", "status", "source", "created_at",
                         "consent_wording", "request_ip", "request_user_agent",
                         "confirmation_sent_at")


@functools.cache
def _subscription_upsert(dialect: str):
    """One list (the form's usual case): compiled once, every value bound per request."""
    return _on_conflict(_insert(dialect, Subscription).values(
        {c: bindparam(c) for c in _SUBSCRIPTION_COLUMNS}))


def _on_conflict(statement):
    """A confirmed subscription is left as it is; any other is (again) pending with this
    request's wording, source and client; the resend limit is claimed (see the caller)."""
    new = statement.excluded
    kept = Subscription.status == SubscriptionStatus.confirmed
    return statement.on_conflict_do_update(
        index_elements=[Subscription.subscriber_id, Subscription.list_id],
        set_={
            "status": case((kept, Subscription.status), else_=new.status),
            "source": case((kept, Subscription.source), else_=new.source),
            "consent_wording": case((kept, Subscription.consent_wording),
                                    else_=new.consent_wording),
            "request_ip": case((kept, Subscription.request_ip), else_=new.request_ip),
            "request_user_agent": case((kept, Subscription.request_user_agent),
                                       else_=new.request_user_agent),
            "confirmation_sent_at": case(
                (~kept & new.confirmation_sent_at.is_not(None)
                 & may_send_confirmation(bindparam("cutoff", type_=UTCDateTime())),
                 new.confirmation_sent_at),
                else_=Subscription.confirmation_sent_at),
        }).returning(Subscription)


def _step_subscribe_to_lists(session: Session, subscriber: Subscriber, request: SubscribeRequest,
                             now: datetime, config: Mapping,
                             outcome: SubscribeOutcome) -> list[Subscription]:
    """Every list in one statement; returns the subscriptions whose confirmation mail is due.

    The resend limit (`may_send_confirmation`) is claimed in the same statement: a row asking
    for a confirmation (`confirmation_sent_at` given) takes `now` only where the limit allows,
    so a returned `now` means this request owns the mail. On PostgreSQL a concurrent identical
    request waits on the row lock, then sees the new time.
    """
    asks = {m.id: not request.existing_consent and m.double_opt_in for m in request.lists}
    rows = [dict(zip(_SUBSCRIPTION_COLUMNS, (
        subscriber.id, m.id, SubscriptionStatus.pending, request.method.value, now,
        request.wording, request.ip, request.user_agent, now if asks[m.id] else None),
        strict=True)) for m in request.lists]
    params = {"cutoff": now - timedelta(minutes=config["NEWSLETTER_CONFIRM_RESEND_MINUTES"])}
    dialect = session.get_bind().dialect.name
    if len(rows) == 1:
        statement = _subscription_upsert(dialect)
        params.update(rows[0])
    else:
        statement = _on_conflict(_insert(dialect, Subscription).values(rows))
    found = {s.list_id: s for s in session.scalars(
        statement, params, execution_options={"populate_existing": True})}
    to_confirm = []
    for mailing_list in request.lists:
        subscription = found[mailing_list.id]
        if subscription.status is SubscriptionStatus.confirmed:
            outcome.already.append(subscription)
        elif not asks[mailing_list.id]:
            activate(session, subscription, now=now, config=config, method=request.method,
                     ip=request.ip, user_agent=request.user_agent, wording=request.wording,
                     welcome=request.send_welcome, outcome=outcome)
            outcome.confirmed.append(subscription)
        else:
            outcome.pending.append(subscription)
            if subscription.confirmation_sent_at == now:
                to_confirm.append(subscription)
    # The collections may have been loaded before these writes: reload them when next used.
    session.expire(subscriber, ["subscriptions"])
    for mailing_list in request.lists:
        session.expire(mailing_list, ["subscriptions"])
    return to_confirm


def get_or_create_subscription(session: Session, subscriber: Subscriber,
                               mailing_list: MailingList, request: SubscribeRequest,
                               now: datetime) -> Subscription:
    """The subscriber's row for this list, created (pending) if missing; safe under races."""

    def existing() -> Subscription | None:
        return session.scalar(select(Subscription).where(
            Subscription.subscriber_id == subscriber.id, Subscription.list_id == mailing_list.id))

    session.flush()
    found = existing()
    if found is not None:
        return found
    candidate = Subscription(subscriber_id=subscriber.id, list_id=mailing_list.id,
                             status=SubscriptionStatus.pending, source=request.method.value,
                             created_at=now)
    try:
        with savepoint(session):
            session.add(candidate)
            session.flush()
        found = candidate
    except IntegrityError:
        found = existing()
        if found is None:
            raise
    # The collections were loaded before the insert: reload them when next used.
    session.expire(subscriber, ["subscriptions"])
    session.expire(mailing_list, ["subscriptions"])
    return found


def _step_queue_confirmation(session: Session, subscriber: Subscriber,
                             claimed: list[Subscription], now: datetime, config: Mapping,
                             outcome: SubscribeOutcome) -> None:
    # Claimed already (the resend limit) by _step_subscribe_to_lists; the worker renders it.
    if claimed:
        outcome.mails.append(messages.queue_confirmation(session, config, subscriber, claimed, now))


def send_confirmation(session: Session, subscriber: Subscriber, to_confirm: list[Subscription], *,
                      now: datetime, config: Mapping) -> list[OutboundMail]:
    """One mail for the lists that need one, at most one per list per resend period."""
    cutoff = now - timedelta(minutes=config["NEWSLETTER_CONFIRM_RESEND_MINUTES"])
    due = [s for s in to_confirm if _claim_confirmation(session, s, now, cutoff)]
    if not due:
        return []
    return [messages.queue_confirmation(session, config, subscriber, due, now)]


def may_send_confirmation(cutoff: datetime | ColumnElement) -> ColumnElement[bool]:
    """THE resend limit, over a Subscription row: no confirmation mail yet, the last one before
    `cutoff`, or the last one before the person left (a new state starts a new count)."""
    return (Subscription.confirmation_sent_at.is_(None)
            | (Subscription.confirmation_sent_at < cutoff)
            | (Subscription.confirmation_sent_at < Subscription.unsubscribed_at))


def _claim_confirmation(session: Session, subscription: Subscription, now: datetime,
                        cutoff: datetime) -> bool:
    # A conditional UPDATE, not read-then-write: on PostgreSQL a concurrent identical request
    # waits on the row lock, then sees the new confirmation_sent_at and claims nothing.
    # The limit counts mail sent in the subscription's current state: a mail sent before the
    # person left does not hold back the one they ask for on coming back (only the owner of the
    # mailbox can leave, through a link we mailed, so this opens no way to flood a stranger).
    session.flush()
    claimed = session.execute(
        update(Subscription)
        .where(Subscription.id == subscription.id, may_send_confirmation(cutoff))
        .values(confirmation_sent_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed:
        session.expire(subscription, ["confirmation_sent_at"])
    return bool(claimed)


class CollectsMails(Protocol):
    """What activate() needs of an outcome (SubscribeOutcome, confirmation.ConfirmOutcome)."""

    mails: list[OutboundMail]


def activate(session: Session, subscription: Subscription, *, now: datetime, config: Mapping,
             method: ConsentMethod, ip: str | None, user_agent: str | None, wording: str,
             welcome: bool,
             outcome: CollectsMails | None = None) -> None:
    """Confirm a subscription: record the grant, then the welcome (campaign or short mail)."""
    subscriber, mailing_list = subscription.subscriber, subscription.mailing_list
    subscription.status = SubscriptionStatus.confirmed
    subscription.confirmed_at = now
    subscription.unsubscribed_at = None
    subscriber.status = SubscriberStatus.active
    consent.record(session, subscriber, purpose=consent.newsletter_purpose(mailing_list.slug),
                   granted=True, method=method, now=now, ip=ip, user_agent=user_agent,
                   wording=wording)
    webhooks.emit(session, webhooks.Event.confirmed, lambda: {
        "subscriber_id": subscriber.id, "email": subscriber.email, "list": mailing_list.slug,
        "method": method.value}, now)
    if not welcome:
        return
    session.flush()
    if mailing_list.welcome_campaign_id is not None:
        campaigns.queue_welcome(session, subscriber, mailing_list, now)
    else:
        mail = messages.queue_subscribed(session, config, subscriber, mailing_list, now)
        if outcome is not None:
            outcome.mails.append(mail)


# --- unsubscribe, resubscribe -------------------------------------------------------------------


def unsubscribe(
    session: Session,
    subscriber: Subscriber,
    *,
    list_ids: list[int] | None = None,
    method: ConsentMethod,
    now: datetime,
    suppression_key: str | None = None,
    suppress_reason: SuppressionReason | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    wording: str = "",
    actor: str | None = None,
) -> list[Subscription]:
    """Leave the given lists (None: every list). Returns the subscriptions that changed.

    Leaving every list, or leaving with a `suppress_reason` (complaint, hard bounce), also puts
    the address on the suppression list, so no later subscribe or import can mail it again.
    Idempotent: leaving a list one has already left records nothing. Somebody acting for the
    person (`actor`: an admin, an API token) is audited as well.
    """
    changed = []
    for subscription in subscriber.subscriptions:
        if list_ids is not None and subscription.list_id not in list_ids:
            continue
        if subscription.status is SubscriptionStatus.unsubscribed:
            continue
        subscription.status = SubscriptionStatus.unsubscribed
        subscription.unsubscribed_at = now
        consent.record(
            session, subscriber,
            purpose=consent.newsletter_purpose(subscription.mailing_list.slug),
            granted=False, method=method, now=now, ip=ip, user_agent=user_agent, wording=wording,
        )
        changed.append(subscription)

    leaving_everything = list_ids is None
    if leaving_everything or suppress_reason is not None:
        reason = suppress_reason or SuppressionReason.unsubscribe_all
        if suppression_key is not None:
            suppression.suppress(session, suppression_key, subscriber.email, reason, now)
    if all(s.status is SubscriptionStatus.unsubscribed for s in subscriber.subscriptions):
        if subscriber.status in (SubscriberStatus.active, SubscriberStatus.pending):
            subscriber.status = {
                SuppressionReason.complaint: SubscriberStatus.complained,
                SuppressionReason.bounce: SubscriberStatus.bounced,
            }.get(suppress_reason, SubscriberStatus.unsubscribed)
    if actor is not None:
        audit.record(session, actor=actor, action="subscriber.unsubscribe",
                     subject_type="subscriber", subject_id=subscriber.id, now=now,
                     detail={"list_ids": list_ids if list_ids is not None else "all"})
    if changed:
        tell_webhooks_left(session, subscriber.id, subscriber.email,
                            lambda: [s.mailing_list.slug for s in changed], method, now)
    return changed


def tell_webhooks_left(session: Session, subscriber_id: int, email: str | None,
                       slugs: Callable[[], list[str]], method: ConsentMethod,
                       now: datetime) -> None:
    """Queue the `unsubscribed` webhook event (also for one_click.py's fast path)."""
    # The payload is built only when a webhook listens: the one-click path stays one statement.
    webhooks.emit(session, webhooks.Event.unsubscribed, lambda: {
        "subscriber_id": subscriber_id,
        "email": email if email is not None else session.get(Subscriber, subscriber_id).email,
        "lists": slugs(), "method": method.value}, now)


def read_unsubscribe_token(config: Mapping, token: str) -> tuple[int, int]:
    """(subscriber_id, list_id) of an unsubscribe token; TokenError if it is not genuine."""
    payload = tokens.load(config["SECRET_KEY"], tokens.UNSUBSCRIBE, token)
    try:
        subscriber_id, list_id = payload
        return int(subscriber_id), int(list_id)
    except (TypeError, ValueError):
        raise tokens.TokenError("This link is not valid.") from None


def resubscribe(session: Session, subscriber: Subscriber, mailing_list: MailingList, *,
                now: datetime, config: Mapping, ip: str | None = None,
                user_agent: str | None = None, wording: str = "") -> SubscribeOutcome:
    """Join a list again from one's own unsubscribe page: always through a fresh confirmation."""
    request = SubscribeRequest(
        email=subscriber.email, lists=[mailing_list], method=ConsentMethod.link, ip=ip,
        user_agent=user_agent, wording=wording, lifts_own_unsubscribe=True,
    )
    # Double opt-in even for single opt-in lists: the link may sit in a forwarded mail.
    request = _step_sanity_checks(request)
    outcome = SubscribeOutcome(subscriber=subscriber)
    if _step_suppression_check(session, request, config, now, outcome):
        return outcome
    subscription = get_or_create_subscription(session, subscriber, mailing_list, request, now)
    if subscription.status is SubscriptionStatus.confirmed:
        outcome.already.append(subscription)
        return outcome
    subscription.status = SubscriptionStatus.pending
    subscription.source = request.method.value
    subscription.consent_wording = request.wording
    subscription.request_ip, subscription.request_user_agent = ip, request.user_agent
    outcome.pending.append(subscription)
    outcome.mails += send_confirmation(session, subscriber, [subscription], now=now, config=config)
    return outcome


# --- purge --------------------------------------------------------------------------------------


def purge_unconfirmed(session: Session, *, now: datetime, max_age_days: int) -> int:
    """Forget subscription requests nobody confirmed in time; returns how many were purged."""
    cutoff = now - timedelta(days=max_age_days)
    stale = list(session.scalars(select(Subscription).where(
        Subscription.status == SubscriptionStatus.pending, Subscription.created_at < cutoff,
        (Subscription.confirmation_sent_at.is_(None)) | (Subscription.confirmation_sent_at < cutoff),
    )))
    touched = set()
    for subscription in stale:
        touched.add(subscription.subscriber_id)
        if subscription.confirmed_at is not None:
            # A former member who asked to come back and never confirmed: they stay "left".
            subscription.status = SubscriptionStatus.unsubscribed
        else:
            session.delete(subscription)
    session.flush()
    session.expire_all()
    # Somebody who never confirmed anything gave no consent: keep nothing about them.
    for subscriber_id in touched:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is not None and subscriber.status is SubscriberStatus.pending \
                and not subscriber.subscriptions:
            session.delete(subscriber)
    return len(stale)

