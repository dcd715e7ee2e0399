"""Pages and system mail in the subscriber's language: chosen by the browser on the form (the
list's default when it names none of ours), stored per subscriber, set by the preference
centre, the API and an import column. Mail is read on the bytes the SMTP server received."""

from __future__ import annotations

import io
import re
from datetime import UTC
from email import message_from_bytes, policy

from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import MailingList, Subscriber, SubscriberStatus, utcnow
from newsletter.subscribers import imports

from conftest import csrf_token, deliver_queued


def _list(app, **kw) -> int:
    with app.app_context():
        mailing_list = MailingList(slug="news", name="News", public=True,
                                   sender_address="news@news.example.org", **kw)
        db.session.add(mailing_list)
        db.session.commit()
        return mailing_list.id


def _subscribe(client, email: str, headers: dict) -> str:
    token = csrf_token(client, "/subscribe/news")
    response = client.post("/subscribe/news", data={"email": email, "csrf_token": token},
                           headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _language(app, email: str) -> str | None:
    with app.app_context():
        return db.session.scalar(select(Subscriber.language).where(Subscriber.email == email))


def _received(smtp, to: str):
    (message,) = smtp.to(to)
    parsed = message_from_bytes(message.raw, policy=policy.default)
    return str(parsed["Subject"]), parsed.get_body(("plain",)).get_content()


def _h1(html: str) -> str:
    return re.search(r"<h1>(.*?)</h1>", html).group(1)


def test_french_browser_gets_the_form_and_the_confirmation_mail_in_french(app, client, smtp):
    _list(app)
    headers = {"Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"}
    page = client.get("/subscribe/news", headers=headers).get_data(as_text=True)
    assert '<html lang="fr">' in page and _h1(page) == "S'inscrire à News"
    assert "Oui, envoyez-moi News par e-mail." in page

    answer = _subscribe(client, "marie@example.org", headers)
    assert _h1(answer) == "Consultez votre boîte de réception"
    assert _language(app, "marie@example.org") == "fr"

    assert deliver_queued(app) == 1
    subject, body = _received(smtp, "marie@example.org")
    assert subject == "Veuillez confirmer votre inscription à News"
    assert "Confirmez votre inscription en ouvrant ce lien" in body
    assert "Se désinscrire: http://newsletter.test/u/" in body


def test_without_accept_language_the_lists_default_applies_and_stays_the_lists(app, client, smtp):
    _list(app, default_language="it")
    page = client.get("/subscribe/news").get_data(as_text=True)
    assert _h1(page) == "Iscriviti a News"
    _subscribe(client, "luca@example.org", {})
    # Nothing stored: the subscriber follows the list's default, should it change.
    assert _language(app, "luca@example.org") is None
    deliver_queued(app)
    subject, body = _received(smtp, "luca@example.org")
    assert subject == "Conferma la tua iscrizione a News"
    assert "Ciao," in body


def test_a_browser_language_we_lack_falls_back_to_the_lists_default(app, client):
    _list(app, default_language="nl")
    page = client.get("/subscribe/news", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert _h1(page) == "Inschrijven voor News"


def _subscriber(app, list_id: int, language: str | None) -> tuple[int, int]:
    from newsletter.models import Subscription, SubscriptionStatus

    with app.app_context():
        subscriber = Subscriber(email="jan@example.org", status=SubscriberStatus.active,
                                language=language)
        db.session.add(subscriber)
        db.session.flush()
        db.session.add(Subscription(subscriber_id=subscriber.id, list_id=list_id,
                                    status=SubscriptionStatus.confirmed, confirmed_at=utcnow()))
        db.session.commit()
        return subscriber.id, subscriber.token_version


def test_preference_centre_speaks_the_stored_language_and_changes_it(app, client):
    from newsletter import links

    list_id = _list(app)
    subscriber_id, version = _subscriber(app, list_id, "de")
    url = links.preferences_url(app.config, subscriber_id, version).replace(
        app.config["NEWSLETTER_BASE_URL"], "")
    # The stored choice wins over the browser's.
    page = client.get(url, headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert _h1(page) == "Ihre Einstellungen"
    token = csrf_token(client, url)
    response = client.post(url, data={"csrf_token": token, "action": "save", "list": str(list_id),
                                      "name": "", "country": "", "language": "pl"})
    assert response.status_code == 200
    assert "Twoje ustawienia zostały zapisane." in response.get_data(as_text=True)
    assert _language(app, "jan@example.org") == "pl"


def test_api_sets_and_shows_the_language(app, client, api_token, smtp):
    _list(app)
    created = client.post("/api/v1/subscribers", headers=api_token, json={
        "email": "eva@example.org", "lists": ["news"], "language": "nl"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["language"] == "nl"
    # The request names no language: the mail is in the stored one, not the request's.
    deliver_queued(app)
    subject, body = _received(smtp, "eva@example.org")
    assert subject == "Bevestig je inschrijving voor News"
    subscriber_id = created.get_json()["id"]
    changed = client.patch(f"/api/v1/subscribers/{subscriber_id}", headers=api_token,
                           json={"language": "es"})
    assert changed.status_code == 200 and changed.get_json()["language"] == "es"
    refused = client.patch(f"/api/v1/subscribers/{subscriber_id}", headers=api_token,
                           json={"language": "xx"})
    assert refused.status_code == 422
    assert _language(app, "eva@example.org") == "es"


def test_import_column_language(app):
    list_id = _list(app)
    stream = io.StringIO("email,language\nana@example.org,pt-BR\nolga@example.org,klingon\n"
                         "tom@example.org,\n")
    with app.app_context():
        report = imports.import_csv(db.session, stream, list_id, consent_basis="existing",
                                    now=utcnow(), config=app.config)
        db.session.commit()
    assert report.subscribed == 2
    [(line, error)] = report.errors
    assert line == 3 and "column 'language'" in error and "de, fr" in error
    assert _language(app, "ana@example.org") == "pt"
    assert _language(app, "tom@example.org") is None


def test_data_request_from_a_german_browser_is_verified_by_a_german_mail(app, client, smtp):
    token = csrf_token(client, "/privacy/request")
    response = client.post("/privacy/request", headers={"Accept-Language": "de"}, data={
        "csrf_token": token, "email": "kurt@example.org", "kind": "erasure"})
    assert _h1(response.get_data(as_text=True)) == "Sehen Sie in Ihr Postfach"
    deliver_queued(app)
    subject, body = _received(smtp, "kurt@example.org")
    assert subject == "Bitte bestätigen Sie Ihre Anfrage zur Löschung Ihrer Daten"
    assert "Wir haben eine Anfrage erhalten, die personenbezogenen Daten" in body


def test_form_errors_come_in_the_page_language(app, client):
    _list(app)
    token = csrf_token(client, "/subscribe/news")
    for email, expected in (("", "Geben Sie eine E-Mail-Adresse ein."),
                            ("nope", "Geben Sie eine gültige E-Mail-Adresse ein, etwa name@example.org.")):
        response = client.post("/subscribe/news", headers={"Accept-Language": "de"},
                               data={"email": email, "csrf_token": token})
        assert response.status_code == 400
        assert f'id="form-error">{expected}</p>' in response.get_data(as_text=True)
    # English keeps email-validator's precise reason.
    response = client.post("/subscribe/news", data={"email": "nope", "csrf_token": token})
    assert "@-sign" in response.get_data(as_text=True)


def test_admin_sets_the_language_on_the_subscriber_page(app, admin_client):
    list_id = _list(app)
    subscriber_id, _ = _subscriber(app, list_id, None)
    url = f"/admin/subscribers/{subscriber_id}/edit"
    token = csrf_token(admin_client, url)
    response = admin_client.post(url, data={"csrf_token": token, "name": "Jan", "country": "",
                                             "language": "nl"})
    assert response.status_code == 302
    assert _language(app, "jan@example.org") == "nl"
    page = admin_client.get(f"/admin/subscribers/{subscriber_id}").get_data(as_text=True)
    assert '<span id="subscriber-language">nl</span>' in page


def test_policy_page_in_the_browsers_language_with_its_dates(app, client):
    from datetime import datetime

    from newsletter.privacy import policy

    with app.app_context():
        policy.publish(db.session, body="# Política", summary="Primera.", material=False,
                       now=datetime(2026, 3, 5, 9, tzinfo=UTC), config=app.config,
                       actor="test")
        db.session.commit()
    page = client.get("/privacy", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "En vigor desde el 5 de marzo de 2026." in page
    assert "Todas las versiones" in page
    english = client.get("/privacy").get_data(as_text=True)
    assert "In force since 05 March 2026." in english


def test_list_default_language_by_cli_and_api(app, runner, client, api_token):
    result = runner.invoke(args=["newsletter", "lists", "create", "nieuws", "--name", "Nieuws",
                                 "--public", "--default-language", "nl"])
    assert result.exit_code == 0, result.output
    page = client.get("/subscribe/nieuws").get_data(as_text=True)
    assert _h1(page) == "Inschrijven voor Nieuws"
    bad = runner.invoke(args=["newsletter", "lists", "create", "x", "--name", "X",
                              "--default-language", "tlh"])
    assert bad.exit_code != 0 and "en, de, fr" in bad.output
    created = client.post("/api/v1/lists", headers=api_token, json={
        "slug": "gazeta", "name": "Gazeta", "public": True, "default_language": "pl"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["default_language"] == "pl"
    page = client.get("/subscribe/gazeta").get_data(as_text=True)
    assert _h1(page) == "Zapisz się na Gazeta"


def test_admin_pages_stay_english_whatever_the_browser(app, admin_client):
    page = admin_client.get("/admin/no-such-page", headers={"Accept-Language": "de"})
    assert page.status_code == 404
    assert "Back to the dashboard" in page.get_data(as_text=True)
