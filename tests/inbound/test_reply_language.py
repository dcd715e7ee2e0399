"""The "you left" mail, queued by the inbound side (no request, no browser), is in the
subscriber's stored language; read on the bytes the SMTP server received."""

from __future__ import annotations

from email import message_from_bytes, policy

from newsletter.extensions import db
from newsletter.inbound.poll import process
from newsletter.models import MailingList, Subscriber

from . import mails
from .mails import NOW
from conftest import deliver_queued


def _leave_by_reply(app, people, language: str | None, list_language: str = "en"):
    with app.app_context():
        db.session.get(Subscriber, people.alice).language = language
        db.session.get(MailingList, people.weekly).default_language = list_language
        db.session.commit()
        raw = mails.reply(app.config, people.alice, people.campaign, "Please unsubscribe me.",
                          message_id="<leave@example.net>")
        process(db.session, app.config, raw, NOW)
    assert deliver_queued(app) == 1


def _received(smtp):
    (message,) = smtp.to("alice@example.net")
    parsed = message_from_bytes(message.raw, policy=policy.default)
    return str(parsed["Subject"]), parsed.get_body(("plain",)).get_content()


def test_a_french_subscriber_gets_the_you_left_mail_in_french(app, smtp):
    people = mails.make_people(app)
    _leave_by_reply(app, people, "fr")
    subject, body = _received(smtp)
    assert subject == "Vous êtes désinscrit de Weekly"
    assert "Vous nous avez demandé par e-mail de ne plus vous envoyer Weekly" in body
    assert "Vous ne recevrez plus de newsletters de Weekly." in body


def test_without_a_language_of_their_own_the_lists_default_applies(app, smtp):
    people = mails.make_people(app)
    _leave_by_reply(app, people, None, list_language="es")
    subject, _ = _received(smtp)
    assert subject == "Te has dado de baja de Weekly"
