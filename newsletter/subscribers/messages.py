"""The mail a subscriber gets from subscribing and leaving: confirmation and "you're subscribed".

Each message is queued with `mailer.queue_later` in the caller's transaction: its links and its
subject (a catalogue text and its values) are made here, and the sender renders it in the
subscriber's language (text + HTML from templates/email/, newsletter/i18n.py) and builds it with
`mailer.build_message` (the list's From, List-Id, List-Unsubscribe and List-Unsubscribe-Post as
in its campaigns, DKIM), so no request renders or signs mail.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter import links
from newsletter.models import MailingList, OutboundMail, Subscriber, Subscription
from newsletter.sending import mailer


def N_(message: str) -> str:
    """Marks a text for the catalogue (pybabel's default keyword); the sender translates it."""
    return message


def queue_confirmation(session: Session, config: Mapping, subscriber: Subscriber,
                       subscriptions: list[Subscription], now: datetime) -> OutboundMail:
    """Queue one confirmation mail for the given pending subscriptions."""
    lists = [s.mailing_list for s in subscriptions]
    names = ", ".join(m.name for m in lists)
    context = {
        "names": names,
        "confirm_url": links.confirm_url(config, subscriber.id, [m.id for m in lists]),
        "max_age_days": config["NEWSLETTER_CONFIRM_MAX_AGE_DAYS"],
    }
    return _queue(session, config, subscriber, lists[0], now, kind="confirm",
                  subject=N_("Please confirm your subscription to %(names)s"),
                  subject_values={"names": names}, template="confirm", context=context)


def queue_subscribed(session: Session, config: Mapping, subscriber: Subscriber,
                     mailing_list: MailingList, now: datetime) -> OutboundMail:
    """Queue the short "you're subscribed" mail sent when a list has no welcome campaign."""
    return _queue(session, config, subscriber, mailing_list, now, kind="subscribed",
                  subject=N_("You are subscribed to %(name)s"),
                  subject_values={"name": mailing_list.name}, template="subscribed", context={})


def _queue(session: Session, config: Mapping, subscriber: Subscriber, mailing_list: MailingList,
           now: datetime, *, kind: str, subject: str, subject_values: dict, template: str,
           context: dict) -> OutboundMail:
    # Only the links are made here (ids known, no flush needed when the caller has them); the
    # translation, the templates, the MIME build and DKIM run in the sender
    # (mailer.render_queued), which also supplies `subscriber` and `list` to the template.
    if subscriber.id is None:
        session.flush()
    context = dict(
        context,
        unsubscribe_url=links.unsubscribe_url(config, subscriber.id, mailing_list.id),
        preferences_url=links.preferences_url(config, subscriber.id, subscriber.token_version),
        base_url=config["NEWSLETTER_BASE_URL"],
    )
    return mailer.queue_later(session, kind=kind, subscriber=subscriber, mailing_list=mailing_list,
                              template=template, subject=subject, subject_values=subject_values,
                              context=context, now=now)
