"""The Mail sink in a real browser: the HTML part is shown at its own height, says why remote
images are missing, loads nothing remote and runs no script from the mail."""

from urllib.parse import urlsplit

import pytest

from newsletter.models import utcnow
from newsletter.sending import mailer
from newsletter.sending.transport import transport_from_config


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'browser.db'}"


def _sink_mail(app, tmp_path, subject, html):
    app.config["MAIL_SERVER"] = ""
    app.config["NEWSLETTER_MAIL_SINK"] = str(tmp_path / "outbox")
    mail = mailer.build_message(app.config, to="reader@example.com", subject=subject, text="text",
                                html=html, now=utcnow())
    transport_from_config(app.config).send("bounce@example.org", "reader@example.com", mail.raw)


def _open(page, subject):
    page.goto("/login")
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    page.goto("/admin/sink")
    page.click(f"text={subject}")
    frame = page.locator("iframe.mail-preview")
    frame.wait_for()
    page.wait_for_function("() => document.querySelector('iframe.mail-preview').style.height !== ''")
    return frame


def test_the_mail_viewer_is_as_tall_as_the_mail(page, app, auth, tmp_path):
    auth.create()
    leaked = []
    page.context.route("**/*", lambda route: (route.continue_() if urlsplit(route.request.url).hostname
                                              == "127.0.0.1" else (leaked.append(route.request.url),
                                                                   route.abort())))
    paragraphs = "".join(f"<p>Paragraph {i}</p>" for i in range(80))
    _sink_mail(app, tmp_path, "A long letter", '<img src="https://tracker.example/p.gif">'
               '<script>document.title = "ran"</script>' + paragraphs)
    frame = _open(page, "A long letter")
    inner = frame.element_handle().content_frame()
    # The frame shows the whole mail: nothing is left to scroll inside it.
    scroll = inner.evaluate("(document.scrollingElement || document.documentElement).scrollHeight")
    assert frame.bounding_box()["height"] >= scroll > 1000
    assert inner.evaluate("document.title") != "ran"
    assert "on purpose" in page.locator("#remote-images-note").inner_text()
    assert leaked == []


def test_a_short_mail_gets_a_short_viewer(page, app, auth, tmp_path):
    auth.create()
    _sink_mail(app, tmp_path, "A short note", "<p>Just this.</p>")
    frame = _open(page, "A short note")
    assert frame.bounding_box()["height"] < 250
