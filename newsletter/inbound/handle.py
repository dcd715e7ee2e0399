"""A verdict becomes actions in the domain modules, recorded as one InboundMessage row.

`handle()` runs inside the caller's transaction and does nothing twice: a message whose key
(Message-ID, or the hash of its bytes) was seen before with the same bytes is skipped; one that
reuses a Message-ID with other bytes is another message, and is read. Who a message is about comes
from one of our address tokens first (verified with the secret here), and only for requests
from the bare From address, which is easy to forge: an unsubscribe by From is done and
confirmed to that address with an undo link; access and erasure always need the mailed link.
A request by bare From is acted on only when our own receiving server's Authentication-Results
(authserv-id `NEWSLETTER_INBOUND_AUTHSERV_ID`) shows SPF or DKIM passing for the From domain;
otherwise it waits for a person (authres.py). Bounces and complaints without a token act on
nobody: forged bounces are cheap. A bounce is recorded and scored by subscribers/bounces.py
(not a withdrawal of consent); a complaint is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter import links, tokens
from newsletter.i18n import in_language, mail_language
from newsletter.inbound import authres
from newsletter.inbound.classify import Kind, Verdict
from newsletter.integrations import webhooks
from newsletter.models import (
    Campaign,
    ConsentMethod,
    InboundMessage,
    InboundStatus,
    PrivacyRequestKind,
    Subscriber,
    SubscriptionStatus,
    SuppressionReason,
)
from newsletter.privacy import data_requests
from newsletter.sending import mailer
from newsletter.subscribers import bounces, subscriptions
from newsletter.subscribers.bounces import Decision

NOT_A_PERSONS_COMPLAINT = ("auth-failure", "not-spam")
POLICY_REJECTION = "policy-rejection-counted"
HEADERS_ONLY_LIMIT = 64 * 1024  # of a message over the size limit we keep only the headers
REQUESTS = (Kind.unsubscribe, Kind.access_request, Kind.erasure_request)
# How a bounce or complaint may name its subscriber: our address token, or the keyed
# Message-ID of the copy we sent (a sending service's event). Never the bare address.
PROVEN = ("token", "message-id")


@dataclass
class Who:
    """Whom a message concerns, and how sure we are."""

    subscriber: Subscriber | None = None
    by: str = ""  # "token" | "message-id" | "from" | ""
    token_kind: str = ""  # reply | bounce | unsubscribe
    campaign_id: int | None = None
    list_id: int | None = None
    authenticated: bool = True  # by "from": our receiving server vouched for the From domain
    source: str = "dsn"  # BounceEvent.source: "dsn" (the mailbox) or "webhook" (a sending service)


@dataclass
class Outcome:
    """What handling a message did; `duplicate` when it had been handled before."""

    message: InboundMessage
    duplicate: bool = False


def handle(session: Session, raw: bytes, verdict: Verdict, *, config: Mapping,
           now: datetime, who: Who | None = None, source: str = "dsn") -> Outcome:
    """Record the message and act on its verdict, in the caller's transaction.

    `who` is given by a caller that proved whom the news concerns another way (a sending
    service's event matched by our keyed Message-ID: integrations/events.py), and `source`
    says how the news came, so one failure learnt two ways is counted once (bounces.py).
    """
    existing = find(session, verdict)
    if existing is not None:
        return Outcome(existing, duplicate=True)
    row = InboundMessage(
        message_key=clean(verdict.message_key)[:255], raw_digest=verdict.digest,
        received_at=now,
        sender=clean(verdict.sender)[:254], subject=clean(verdict.subject),
        verdict=verdict.kind.value, reasons=[clean(r) for r in verdict.reasons],
        raw=_kept_bytes(raw, config), status=InboundStatus.done,
    )
    session.add(row)
    try:
        # The first write of the transaction: when another poller recorded the same message a
        # moment ago, rolling back undoes nothing else. (No savepoint: with pysqlite a first
        # SAVEPOINT opens the transaction and its RELEASE would commit it.)
        session.flush()
    except IntegrityError:
        session.rollback()
        return Outcome(find(session, verdict), duplicate=True)
    who = who or identify(session, verdict, config)
    who.source = source
    row.subscriber_id = who.subscriber.id if who.subscriber else None
    row.campaign_id = who.campaign_id
    row.recipient_domain = _domain(verdict.failed_recipient or (
        who.subscriber.email if who.subscriber else ""))
    act(session, row, verdict, who, config=config, now=now)
    return Outcome(row)


def find(session: Session, verdict: Verdict) -> InboundMessage | None:
    """The recorded message with this key and these bytes, if any.

    A row recorded before digests were kept (NULL) matches its key alone, as it did then."""
    return session.scalar(select(InboundMessage).where(
        InboundMessage.message_key == clean(verdict.message_key)[:255],
        or_(InboundMessage.raw_digest == verdict.digest, InboundMessage.raw_digest.is_(None)))
        .order_by(InboundMessage.id).limit(1))


def clean(text: str) -> str:
    """Text safe to store: PostgreSQL refuses NUL, and control characters help nobody.

    >>> clean("Re: hi\\x00 there\\x07")
    'Re: hi there'
    """
    text = str(text).encode("utf-8", "replace").decode("utf-8")  # lone surrogates
    return "".join(ch for ch in text if ch >= " " or ch in "\t\n")


def identify(session: Session, verdict: Verdict, config: Mapping) -> Who:
    """The subscriber a message concerns: a valid token first, then (for requests) From."""
    for token in verdict.tokens:
        try:
            kind, subscriber_id, ref_id = tokens.load_address_token(config["SECRET_KEY"], token)
        except tokens.TokenError:
            verdict.reasons.append(f"token {token[:12]}... does not verify: ignored")
            continue
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            continue
        campaign_id = ref_id if kind in ("reply", "bounce") and ref_id else None
        if campaign_id is not None and session.get(Campaign, campaign_id) is None:
            campaign_id = None
        return Who(subscriber, "token", kind, campaign_id,
                   ref_id if kind == "unsubscribe" else None)
    if verdict.kind in (Kind.unsubscribe, Kind.access_request, Kind.erasure_request,
                        Kind.human) and verdict.sender:
        try:
            email = subscriptions.normalise_email(verdict.sender)
        except subscriptions.InvalidEmail:
            return Who()
        authenticated = _authenticated(verdict, config) if verdict.kind in REQUESTS else True
        return Who(subscriptions.find_subscriber(session, email), "from",
                   authenticated=authenticated)
    return Who()


def _authenticated(verdict: Verdict, config: Mapping) -> bool:
    """Whether our receiving server authenticated the From domain of a bare-From request."""
    authserv_id = (config.get("NEWSLETTER_INBOUND_AUTHSERV_ID") or "").strip()
    if not authserv_id:
        # Without the setting we cannot tell our header from a forged one: today's behaviour,
        # but said.
        verdict.reasons.append("sender not authenticated (NEWSLETTER_INBOUND_AUTHSERV_ID unset)")
        return True
    passed, why = authres.check(verdict.auth_results, authserv_id, verdict.sender)
    verdict.reasons.append(("sender authenticated: " if passed else "sender not authenticated: ")
                           + why)
    return passed


def act(session: Session, row: InboundMessage, verdict: Verdict, who: Who, *,
        config: Mapping, now: datetime) -> None:
    """Carry out what the verdict asks; sets row.action and row.status."""
    action = ACTIONS[verdict.kind]
    if verdict.kind in REQUESTS and who.by == "from" and not who.authenticated:
        # A forged From would otherwise unsubscribe (or be mailed a data link for) another person.
        action = _unauthenticated
    row.action = clean(action(session, row, verdict, who, config, now))[:64]
    row.reasons = [clean(r) for r in verdict.reasons]


# --- one step per verdict (STYLE.md example 5: one call into the domain, then record) ---------


def _unsubscribe(session, row, verdict, who, config, now) -> str:
    subscriber = who.subscriber
    if subscriber is None:
        row.status = InboundStatus.needs_human
        return "no-subscriber: a person decides"
    others = set(verdict.mentioned) - {subscriber.email, verdict.sender.lower()}
    if others:
        # "Please unsubscribe bob@...": about someone else, who has not asked.
        verdict.reasons.append("the text names another address: " + ", ".join(sorted(others)))
        row.status = InboundStatus.needs_human
        return "names-another-address: a person decides"
    if who.by == "token" and _another_subscriber(session, verdict.sender, subscriber):
        # A forwarded newsletter carries its recipient's token: whose request is it?
        verdict.reasons.append("sent by a different subscriber than the token names")
        row.status = InboundStatus.needs_human
        return "token-and-sender-differ: a person decides"
    list_ids = _lists_to_leave(session, subscriber, who)
    changed = subscriptions.unsubscribe(
        session, subscriber, list_ids=list_ids, method=ConsentMethod.reply, now=now,
        suppression_key=config["NEWSLETTER_SUPPRESSION_KEY"],
        wording=f"inbound message {row.message_key[:120]}",
    )
    if not changed:
        return "already-unsubscribed"
    if who.token_kind != "unsubscribe":  # the List-Unsubscribe mailto is often sent by a client
        _queue_unsubscribed_mail(session, config, subscriber, [s.mailing_list for s in changed],
                                 now)
    return f"unsubscribed-{len(changed)}-lists-by-{who.by}"


def _another_subscriber(session: Session, sender: str, subscriber: Subscriber) -> bool:
    try:
        email = subscriptions.normalise_email(sender)
    except subscriptions.InvalidEmail:
        return False
    if email == subscriber.email:
        return False
    return subscriptions.find_subscriber(session, email) is not None


def _lists_to_leave(session: Session, subscriber: Subscriber, who: Who) -> list[int]:
    active = [s.list_id for s in subscriber.subscriptions
              if s.status is not SubscriptionStatus.unsubscribed]
    if who.list_id is not None:
        return [who.list_id]
    if who.campaign_id is not None:
        campaign = session.get(Campaign, who.campaign_id)
        in_campaign = [m.id for m in getattr(campaign, "lists", [])]
        chosen = [list_id for list_id in active if list_id in in_campaign]
        if chosen:
            return chosen
    # A reply to a mail without a campaign, or by bare From: leave every list, named one by
    # one so the undo links can bring each back (list_ids=None would also suppress).
    return active


def _queue_unsubscribed_mail(session, config, subscriber, lists, now) -> None:
    context = {
        "email": subscriber.email,
        "names": ", ".join(m.name for m in lists),
        "lists": [{"name": m.name, "url": links.unsubscribe_url(config, subscriber.id, m.id)}
                  for m in lists],
    }
    with in_language(mail_language(subscriber.language, lists[0].default_language)):
        subject = _("You are unsubscribed from %(names)s", names=context["names"])
        text = render_template("email/reply_unsubscribed.txt", **context)
    mail = mailer.build_message(
        config, to=subscriber.email, subject=subject, text=text,
        now=now, mailing_list=lists[0], subscriber_id=subscriber.id,
    )
    mailer.queue(session, kind="reply-unsubscribed", mail=mail, now=now)


def _bounce(session, row, verdict, who, config, now) -> str:
    """Both bounce verdicts: the decision of subscribers/bounces.py, applied by its record()."""
    decision = Decision(verdict.bounce) if verdict.bounce else (
        Decision.hard if verdict.kind is Kind.bounce_hard else Decision.soft)
    if who.by not in PROVEN:
        # Forged bounces are cheap: without our token a bounce acts on nobody.
        return POLICY_REJECTION if verdict.policy else "no-token: nobody counted or suppressed"
    failed = (verdict.failed_recipient or "").strip().lower()
    if decision is Decision.hard and failed and "@" in failed and failed != who.subscriber.email:
        # The subscriber forwards to another mailbox and that one is gone (Mailman checks the
        # same): the subscriber's own address may still work, so count it as a soft bounce.
        verdict.reasons.append(f"the failed address {failed} is not the subscriber's: soft")
        decision = Decision.soft
    applied = bounces.record(
        session, who.subscriber, decision, source=who.source, status=verdict.status,
        detail="; ".join(verdict.reasons[-2:]), campaign_id=who.campaign_id, now=now,
        config=config,
    )
    verdict.reasons.append(applied.summary)
    # 5.7.x says something about us (content, reputation, authentication), nothing about the
    # address: counted per campaign and recipient domain for the inbox page.
    return POLICY_REJECTION if verdict.policy else applied.summary


def _complaint(session, row, verdict, who, config, now) -> str:
    if who.by not in PROVEN:
        return "no-token: nobody suppressed"
    if verdict.feedback_type in NOT_A_PERSONS_COMPLAINT:
        # RFC 6591 authentication-failure reports (DMARC) and "not-spam" reports say nothing
        # about the recipient's wishes.
        return f"recorded: feedback type {verdict.feedback_type} is not a complaint"
    subscriptions.unsubscribe(
        session, who.subscriber, list_ids=None, method=ConsentMethod.complaint, now=now,
        suppression_key=config["NEWSLETTER_SUPPRESSION_KEY"],
        suppress_reason=SuppressionReason.complaint, wording="spam complaint (feedback report)",
    )
    webhooks.emit(session, webhooks.Event.complained, {
        "subscriber_id": who.subscriber.id, "email": who.subscriber.email,
        "campaign_id": who.campaign_id, "feedback_type": verdict.feedback_type}, now)
    return "unsubscribed-all-and-suppressed"


def _privacy_request(kind: PrivacyRequestKind):
    def step(session, row, verdict, who, config, now) -> str:
        left = ""
        if verdict.also_unsubscribe:
            # "Unsubscribe me and delete my data": the unsubscribe needs no proof (undo link).
            left = "; " + _unsubscribe(session, row, verdict, who, config, now)
        # With a token we know the subscriber, but a forwarded newsletter carries the same
        # token: the link goes to the subscriber's own address either way.
        email = who.subscriber.email if who.by == "token" else verdict.sender
        try:
            email = subscriptions.normalise_email(email)
        except subscriptions.InvalidEmail:
            row.status = InboundStatus.needs_human
            return "no-valid-address: a person decides" + left
        session.flush()
        request, _ = data_requests.open_request(
            session, kind=kind, email=email, source="reply", now=now, config=config,
            subscriber=who.subscriber, inbound_message_id=row.id,
        )
        return f"privacy-request-{request.id}-link-sent{left}"

    return step


def _auto_reply(session, row, verdict, who, config, now) -> str:
    return "ignored"


def _unauthenticated(session, row, verdict, who, config, now) -> str:
    row.status = InboundStatus.needs_human
    return "sender-not-authenticated: a person decides"


def _human(session, row, verdict, who, config, now) -> str:
    row.status = InboundStatus.needs_human
    return "waits-in-inbox"


ACTIONS = {
    Kind.unsubscribe: _unsubscribe,
    Kind.bounce_hard: _bounce,
    Kind.bounce_soft: _bounce,
    Kind.complaint: _complaint,
    Kind.access_request: _privacy_request(PrivacyRequestKind.access),
    Kind.erasure_request: _privacy_request(PrivacyRequestKind.erasure),
    Kind.auto_reply: _auto_reply,
    Kind.human: _human,
}


def policy_rejections(session: Session) -> list[tuple[int | None, str | None, int]]:
    """(campaign id, recipient domain, count) of 5.7.x policy rejections, most first."""
    rows = session.execute(
        select(InboundMessage.campaign_id, InboundMessage.recipient_domain,
               func.count(InboundMessage.id))
        .where(InboundMessage.action == POLICY_REJECTION)
        .group_by(InboundMessage.campaign_id, InboundMessage.recipient_domain)
        .order_by(func.count(InboundMessage.id).desc())
    )
    return [(c, d, n) for c, d, n in rows]


def _domain(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rsplit("@", 1)[1].strip().strip(">").lower()[:254] or None


def _kept_bytes(raw: bytes, config: Mapping) -> bytes:
    if len(raw) <= config.get("NEWSLETTER_INBOUND_MAX_BYTES", 25 * 1024 * 1024):
        return raw
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    return raw[:end if 0 <= end < HEADERS_ONLY_LIMIT else HEADERS_ONLY_LIMIT]
