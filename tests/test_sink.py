"""With no SMTP server configured, mail lands in the local Maildir sink and the admin UI lists it."""

import pytest

from newsletter.models import utcnow
from newsletter.sending import mailer
from newsletter.sending.transport import MaildirTransport, transport_from_config


@pytest.fixture
def sink_app(app, tmp_path):
    app.config["MAIL_SERVER"] = ""
    app.config["NEWSLETTER_MAIL_SINK"] = str(tmp_path / "outbox")
    return app


def test_no_mail_server_means_the_maildir_sink(sink_app):
    assert isinstance(transport_from_config(sink_app.config), MaildirTransport)


def test_admin_lists_and_shows_what_the_sink_holds(sink_app, admin_client, smtp):
    transport = transport_from_config(sink_app.config)
    mail = mailer.build_message(sink_app.config, to="reader@example.com", subject="Welcome aboard",
                                text="Hello reader", html="<p>Hello reader</p>", now=utcnow())
    transport.send("bounce@example.org", "reader@example.com", mail.raw)
    page = admin_client.get("/admin/sink").get_data(as_text=True)
    assert "Welcome aboard" in page and "reader@example.com" in page
    key = page.split('/admin/sink/')[1].split('"')[0]
    detail = admin_client.get(f"/admin/sink/{key}").get_data(as_text=True)
    assert "Hello reader" in detail
    html = admin_client.get(f"/admin/sink/{key}/html")
    assert html.status_code == 200 and "<p>Hello reader</p>" in html.get_data(as_text=True)
    assert html.headers["Content-Security-Policy"].startswith("sandbox")
    assert smtp.messages == []  # nothing left the machine
    assert admin_client.get("/admin/sink/not-a-key").status_code == 404
