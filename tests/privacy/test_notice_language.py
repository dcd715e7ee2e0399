"""Policy and purpose notices in the subscriber's language, read on the bytes the SMTP server
received: a French subscriber is asked in French; a German one gets the standalone policy
notice in German; English stays as it was."""

from __future__ import annotations

import re
from datetime import timedelta
from email import policy as email_policy
from email.parser import BytesParser

import pytest
from campaign_support import NOW, add_subscribers, make_list
from sqlalchemy import update

from newsletter.extensions import db
from newsletter.models import Subscriber
from newsletter.privacy import policy

from .test_policy_notice import sweep_and_send
from conftest import deliver_queued


def _parsed(message):
    return BytesParser(policy=email_policy.default).parsebytes(message.raw)


def _text(message) -> str:
    return _parsed(message).get_body(("plain",)).get_content()


@pytest.fixture
def readers(app):
    """Two subscribers of one list: the first French, the second with no language."""
    with app.app_context():
        news = make_list(db.session)
        ids = add_subscribers(db.session, news, 2)
        db.session.execute(update(Subscriber).where(Subscriber.id == ids[0]).values(language="fr"))
        db.session.commit()
        return ids


def test_purpose_announcement_in_the_subscribers_language(app, client, runner, smtp, readers):
    with app.app_context():
        policy.publish(db.session, body="# Policy", summary="First.", material=False,
                       now=NOW - timedelta(minutes=1), config=app.config, actor="test")
        db.session.commit()
    assert runner.invoke(args=["newsletter", "purpose", "create", "partners", "--name",
                               "Partenaires", "--description", "Nos partenaires."]).exit_code == 0
    assert runner.invoke(args=["newsletter", "purpose", "announce", "partners"]).exit_code == 0
    assert deliver_queued(app) == 2
    received = {m.rcpt_tos[0]: m for m in smtp.wait_for(2)}
    french, other = received["reader0@example.net"], received["reader1@example.net"]
    assert str(_parsed(french)["Subject"]) in ("Pouvons-nous utiliser vos données pour Partenaires ?",
                                               "Une nouvelle utilisation de vos données : Partenaires")
    assert "Notre politique de confidentialité: http://newsletter.test/" in _text(french)
    assert "Our privacy policy: http://newsletter.test/" in _text(other)
    # The link in it opens the purpose page in French too, whatever the browser says.
    path = re.search(r"http://newsletter\.test(/purpose/\S+)", _text(french)).group(1)
    page = client.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="fr">' in page and "Privacy policy" not in page
    assert "Politique de confidentialité" in page


def test_standalone_policy_notice_in_the_subscribers_language(app, smtp, readers):
    with app.app_context():
        db.session.execute(update(Subscriber).where(Subscriber.id == readers[0])
                           .values(language="de"))
        version = policy.publish(db.session, body="# Policy", summary="Neu.", material=True,
                                 now=NOW, config=app.config, actor="test")
        db.session.commit()
        label = version.version
        deadline = NOW + timedelta(days=app.config["NEWSLETTER_POLICY_NOTICE_DAYS"])
        assert sweep_and_send(app, deadline) == 2
    received = {m.rcpt_tos[0]: m for m in smtp.wait_for(2)}
    german, other = received["reader0@example.net"], received["reader1@example.net"]
    assert str(_parsed(german)["Subject"]) == "Unsere Datenschutzerklärung hat sich geändert"
    assert f"Version {label}, gültig ab" in _text(german)
    assert str(_parsed(other)["Subject"]) == "Our privacy policy has changed"
