"""A German browser (Chromium with locale de-DE, so Accept-Language: de-DE) gets the subscribe
page in German, and the confirmation mail arrives on the SMTP server in German."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from newsletter.extensions import db
from newsletter.models import MailingList, Subscriber


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_german_browser_gets_the_form_and_the_confirmation_mail_in_german(app, browser,
                                                                           live_server, smtp):
    import threading

    from newsletter.sending.process import run_worker

    with app.app_context():
        db.session.add(MailingList(slug="news", name="Wochenpost", public=True,
                                   sender_address="news@news.example.org"))
        db.session.commit()
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(app, stop), daemon=True)
    worker.start()
    context = browser.new_context(base_url=live_server.url, locale="de-DE")
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto("/subscribe/news")
        assert page.locator("html").get_attribute("lang") == "de"
        assert page.locator("h1").inner_text() == "Wochenpost abonnieren"
        assert page.locator("button[type=submit]").inner_text() == "Abonnieren"
        page.fill("input[name=email]", "greta@example.org")
        page.click("button[type=submit]")
        assert page.locator("h1").inner_text() == "Sehen Sie in Ihr Postfach"

        (received,) = smtp.wait_for(1)
        parsed = message_from_bytes(received.raw, policy=policy.default)
        assert str(parsed["Subject"]) == "Bitte bestätigen Sie Ihr Abonnement von Wochenpost"
        body = parsed.get_body(("plain",)).get_content()
        assert "Bestätigen Sie Ihr Abonnement, indem Sie diesen Link öffnen" in body
        assert "Abmelden: http" in body

        # The link in the mail opens the confirm page in German too.
        confirm_url = next(w for w in body.split() if "/confirm/" in w)
        page.goto(confirm_url)
        assert page.locator("#confirm").inner_text() == "Abonnement bestätigen"
    finally:
        context.close()
        stop.set()
        worker.join(10)
    with app.app_context():
        assert db.session.query(Subscriber).one().language == "de"
