"""Our words in a newsletter (the footer lines, the click disclosure, a policy notice riding in
it) are in each reader's language, read on the bytes the SMTP server received: a German reader
of an English list gets them in German, a reader with no language of their own gets the list's
default, and the marketer's own text stays as written."""

from __future__ import annotations

from datetime import timedelta
from email import policy as email_policy
from email.parser import BytesParser
from html import unescape

from campaign_support import NOW, add_subscribers, drain, make_list, new_campaign
from sqlalchemy import update

from newsletter.extensions import db
from newsletter.models import MailingList, Subscriber
from newsletter.privacy import policy
from newsletter.sending import campaigns


def _parts(message) -> tuple[str, str]:
    parsed = BytesParser(policy=email_policy.default).parsebytes(message.raw)
    # The HTML part goes out as ASCII with character references: read it as a browser would.
    return (unescape(parsed.get_body(("html",)).get_content()),
            parsed.get_body(("plain",)).get_content())


def _send(app, list_id: int) -> None:
    campaign = new_campaign(db.session, db.session.get(MailingList, list_id),
                            body="Marketer's own words.")
    campaigns.send_now(campaign, NOW)
    db.session.commit()
    campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
    db.session.remove()


def test_footer_words_follow_the_reader_then_the_list(app, smtp):
    with app.app_context():
        english = make_list(db.session, count_clicks=True)
        german_reader, _plain = add_subscribers(db.session, english, 2)
        db.session.execute(update(Subscriber).where(Subscriber.id == german_reader)
                           .values(language="de"))
        french = make_list(db.session, slug="nouvelles", default_language="fr")
        add_subscribers(db.session, french, 1, start=2)
        db.session.commit()
        list_ids = english.id, french.id
        policy.publish(db.session, body="# Policy", summary="We keep less.", material=True,
                       now=NOW - timedelta(minutes=1), config=app.config, actor="test")
        db.session.commit()
        for list_id in list_ids:
            _send(app, list_id)
    assert drain(app, clock=lambda: NOW + timedelta(minutes=1)) == 3
    received = {m.rcpt_tos[0]: _parts(m) for m in smtp.wait_for(3)}

    html, text = received["reader0@example.net"]  # German, on an English list
    assert "Sie erhalten Weekly News, weil Sie sich als reader0@example.net angemeldet haben." \
        in html
    assert ">Abmelden</a>" in html and ">Einstellungen</a>" in html and ">Ihre Daten</a>" in html
    assert "\nAbmelden: http://newsletter.test/u/" in text
    assert "Ihre Daten: einsehen oder löschen lassen: http://newsletter.test/" in text
    assert "nie je Person" in html and "nie je Person" in text  # clicks are counted there
    assert "Unsere Datenschutzerklärung hat sich geändert" in html + text
    assert "Marketer's own words." in html and "Unsubscribe" not in html + text

    html, text = received["reader1@example.net"]  # no language: the list's, English
    assert "You receive Weekly News because you subscribed as reader1@example.net." in html
    assert ">Unsubscribe</a>" in html and "\nUnsubscribe: http://newsletter.test/u/" in text
    assert "never per person" in text and "Our privacy policy has changed" in text

    html, text = received["reader2@example.net"]  # no language, on a French list
    assert ">Se désinscrire</a>" in html and "\nSe désinscrire: http://newsletter.test/u/" in text
    assert "Vos données : les consulter ou les faire supprimer" in text
    assert "jamais par personne" not in text  # that list does not count clicks
    assert "Unsubscribe" not in html + text
