"""The mail a subscriber gets from subscribing and leaving: confirmation and "you're subscribed".

Each message is rendered here (text + HTML from templates/email/) with the list's unsubscribe
link, built by `mailer.build_message` (the list's From, List-Id, List-Unsubscribe and
List-Unsubscribe-Post as in its campaigns, DKIM) and queued with `mailer.queue` in the caller's
transaction. Rendering needs an app context (templates), nothing else; it happens in the subscriber's
language (newsletter/i18n.py), whatever page or worker queued the mail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from newsletter import links
from newsletter.i18n import in_language, mail_language
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
    return _queue(session, config, subscriber, lists[0], now, kind="confirm",
                  subject=lambda: _("Please confirm your subscription to %(names)s",
                                    names=context["names"]),
                  template="confirm", context=context)


def queue_subscribed(session: Session, config: Mapping, subscriber: Subscriber,
                     mailing_list: MailingList, now: datetime) -> OutboundMail:
    """Queue the short "you're subscribed" mail sent when a list has no welcome campaign."""
    context = {"subscriber": subscriber, "list": mailing_list}
    return _queue(session, config, subscriber, mailing_list, now, kind="subscribed",
                  subject=lambda: _("You are subscribed to %(name)s", name=mailing_list.name),
                  template="subscribed",
                  context=context)


def _queue(session: Session, config: Mapping, subscriber: Subscriber, mailing_list: MailingList,
           now: datetime, *, kind: str, subject: Callable[[], str], template: str,
           context: dict) -> OutboundMail:
    """`subject` is called inside the subscriber's language, as the templates are rendered."""
    session.flush()  # ids for the tokens
    context = dict(
        context,
        unsubscribe_url=links.unsubscribe_url(config, subscriber.id, mailing_list.id),
        preferences_url=links.preferences_url(config, subscriber.id, subscriber.token_version),
        base_url=config["NEWSLETTER_BASE_URL"],
    )
    with in_language(mail_language(subscriber.language, mailing_list.default_language)):
        subject_text = subject()
        text = render_template(f"email/{template}.txt", **context)
        html = render_template(f"email/{template}.html", **context)
    mail = mailer.build_message(
        config,
        to=subscriber.email,
        subject=subject_text,
        text=text,
        html=html,
        now=now,
        mailing_list=mailing_list,
        subscriber_id=subscriber.id,
    )
    return mailer.queue(session, kind=kind, mail=mail, now=now)
