"""The mail a subscriber gets from subscribing and leaving: confirmation and "you're subscribed".

Each message is rendered here (text + HTML from templates/email/) with the list's unsubscribe
link, built by `mailer.build_message` (the list's From, List-Id, List-Unsubscribe and
List-Unsubscribe-Post as in its campaigns, DKIM) and queued with `mailer.queue` in the caller's
transaction. Rendering needs an app context (templates), nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from flask import render_template
from sqlalchemy.orm import Session

from newsletter import links
from newsletter.models import MailingList, OutboundMail, Subscriber, Subscription
from newsletter.sending import mailer


def queue_confirmation(session: Session, config: Mapping, subscriber: Subscriber,
                       subscriptions: list[Subscription], now: datetime) -> OutboundMail:
    """Queue one confirmation mail for the given pending subscriptions."""
    lists = [s.mailing_list for s in subscriptions]
    context = {
        "subscriber": subscriber,
        "lists": lists,
        "names": ", ".join(m.name for m in lists),
        "confirm_url": links.confirm_url(config, subscriber.id, [m.id for m in lists]),
        "max_age_days": config["NEWSLETTER_CONFIRM_MAX_AGE_DAYS"],
    }
    subject = f"Please confirm your subscription to {context['names']}"
    return _queue(session, config, subscriber, lists[0], now, kind="confirm", subject=subject,
                  template="confirm", context=context)


def queue_subscribed(session: Session, config: Mapping, subscriber: Subscriber,
                     mailing_list: MailingList, now: datetime) -> OutboundMail:
    """Queue the short "you're subscribed" mail sent when a list has no welcome campaign."""
    context = {"subscriber": subscriber, "list": mailing_list}
    return _queue(session, config, subscriber, mailing_list, now, kind="subscribed",
                  subject=f"You are subscribed to {mailing_list.name}", template="subscribed",
                  context=context)


def _queue(session: Session, config: Mapping, subscriber: Subscriber, mailing_list: MailingList,
           now: datetime, *, kind: str, subject: str, template: str, context: dict) -> OutboundMail:
    session.flush()  # ids for the tokens
    context = dict(
        context,
        unsubscribe_url=links.unsubscribe_url(config, subscriber.id, mailing_list.id),
        preferences_url=links.preferences_url(config, subscriber.id, subscriber.token_version),
        base_url=config["NEWSLETTER_BASE_URL"],
    )
    mail = mailer.build_message(
        config,
        to=subscriber.email,
        subject=subject,
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        now=now,
        mailing_list=mailing_list,
        subscriber_id=subscriber.id,
    )
    return mailer.queue(session, kind=kind, mail=mail, now=now)
