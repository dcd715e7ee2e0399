"""Compose: sandboxed personalisation, sanitising, CSS inlining, the text part, the headers of
DESIGN.md section 9 and DKIM (verified with dkimpy), and the public archive copy."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from html import unescape

import pytest
from campaign_support import SELECTOR, dkim_valid, write_dkim_key

from newsletter.sending import compose
from newsletter.sending.dkim import DkimSigner

CONFIG = {
    "SECRET_KEY": "compose-test-secret-0123456789abcdef",
    "NEWSLETTER_BASE_URL": "https://news.example.org",
    "NEWSLETTER_MAIL_DOMAIN": "example.org",
    "NEWSLETTER_REPLY_DOMAIN": "reply.example.org",
    "NEWSLETTER_BOUNCE_DOMAIN": "bounce.example.org",
}
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
READER = compose.Recipient(42, "anna@example.net", "Anna Müller", {"city": "Köln", "plan": "pro"},
                           token_version=3, list_id=7)


def content(body: str, body_format: str = "markdown", **fields) -> compose.CampaignContent:
    values = dict(campaign_id=5, subject="News for {{ subscriber.name }}", body=body,
                  body_format=body_format, list_id=7, list_slug="weekly", list_name="Weekly News",
                  sender_name="The Editors", sender_address="editors@example.org")
    values.update(fields)
    return compose.CampaignContent(**values)


def parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def render(body: str, body_format: str = "markdown", **fields):
    compiled = compose.compile_campaign(content(body, body_format, **fields), CONFIG)
    return compiled.render(READER, NOW)


def test_personalises_both_parts_and_sets_the_headers():
    message = render("# Hello {{ subscriber.name }}\n\nYou live in "
                     "{{ subscriber.attributes.city }}. [Leave]({{ unsubscribe_url }})")
    mail = parse(message.raw)
    assert mail["Subject"] == "News for Anna Müller"
    assert mail["To"].addresses[0].addr_spec == "anna@example.net"
    assert mail["From"].addresses[0].display_name == "The Editors"
    assert mail["List-Id"] == '"Weekly News" <weekly.example.org>'
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click, mailto = [u.strip(" <>") for u in mail["List-Unsubscribe"].split(",")]
    assert one_click.startswith("https://news.example.org/u/")
    assert mailto.startswith("mailto:unsubscribe+") and "@reply.example.org" in mailto
    assert mail["Reply-To"].addresses[0].addr_spec.startswith("reply+")
    assert mail["Reply-To"].addresses[0].domain == "reply.example.org"
    assert message.envelope_from.startswith("bounce+") and message.envelope_from.endswith(
        "@bounce.example.org")
    assert mail["Message-ID"] == message.message_id and message.message_id.endswith("@example.org>")
    # The HTML part is ASCII: other characters travel as character references.
    html = unescape(mail.get_body(("html",)).get_content())
    text = mail.get_body(("plain",)).get_content()
    assert "Hello Anna Müller" in html and "You live in Köln" in html
    assert one_click in html  # the visible link is the one-click URL too
    assert "Hello Anna Müller" in text and one_click in text
    assert b"\r\n" in message.raw and b"\n" not in message.raw.replace(b"\r\n", b"")


def test_css_is_inlined_and_marketer_html_is_sanitised():
    body = ('<p onclick="steal()">Hi <script>alert(1)</script><a href="javascript:x()">x</a>'
            '<a href="https://example.org/ok" style="color: red">ok</a></p><form><input></form>')
    mail = parse(render(body, "html").raw)
    html = mail.get_body(("html",)).get_content()
    assert "<script" not in html and "onclick" not in html and "javascript:" not in html
    assert "<form" not in html and "<input" not in html
    assert 'href="https://example.org/ok"' in html and "color: red" in html
    # The layout's stylesheet went into style attributes; only @media rules cannot, and stay.
    assert [s.strip()[:6] for s in re.findall(r"<style[^>]*>(.*?)</style>", html, re.S)] == \
        ["@media"]
    assert 'style="' in html and "font-family" in html


def test_text_part_is_made_from_the_same_content():
    mail = parse(render("<h1>Title</h1><p>See <a href=\"https://example.org/a\">this</a>.</p>"
                        "<ul><li>one</li><li>two</li></ul>", "html").raw)
    text = mail.get_body(("plain",)).get_content()
    assert "Title" in text and "this <https://example.org/a>" in text
    assert "- one" in text and "- two" in text and "<p>" not in text


@pytest.mark.parametrize("body,fragment", [
    ("hello\n{{ subscriber.__class__ }}", "line 2"),
    ("{{ subscriber.attributes.__class__.__mro__ }}", "not allowed"),
    ("{{ campaign.subject.format.__globals__ }}", "not allowed"),
    ("{{ subscriber.attributes.update({'a': 1}) }}", "not allowed"),
    ("a\nb\nc\n{% if %}", "line 4"),
    ("{{ config }}", "unknown variable 'config'"),
    ("{{ self.__init__.__globals__ }}", "line 1: not allowed"),
    ("{{ lipsum.__globals__ }}", "line 1: not allowed"),
    ("{{ range(10**9) | list }}", "unknown variable 'range'"),
    ("ok\n{{ subscriber['__class__'] }}", "line 2: not allowed"),
    ("x\n\n{{ 1 / 0 }}", "line 3"),
])
def test_dangerous_or_broken_templates_are_refused_at_save_time(body, fragment):
    with pytest.raises(compose.TemplateProblem) as refused:
        compose.validate("Subject", body, "markdown")
    assert fragment in str(refused.value)


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: x@example.org", "Hi\nthere", "Hi\rthere"])
def test_line_breaks_in_the_subject_are_refused(subject):
    with pytest.raises(compose.TemplateProblem, match="line breaks"):
        compose.validate(subject, "body", "markdown")


def test_a_name_with_line_breaks_never_becomes_a_header():
    sneaky = compose.Recipient(1, "x@example.net", "Eve\r\nBcc: victim@example.org", {}, 1, 7)
    compiled = compose.compile_campaign(content("Hi {{ subscriber.name }}"), CONFIG)
    raw = compiled.render(sneaky, NOW).raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head
    assert parse(raw)["Bcc"] is None


def test_layout_must_have_a_content_slot_and_is_checked():
    with pytest.raises(compose.TemplateProblem, match="content"):
        compose.validate("S", "b", "markdown", layout="<html>no slot</html>")
    with pytest.raises(compose.TemplateProblem, match="layout, line 2"):
        compose.validate("S", "b", "markdown", layout="{{ content }}\n{{ subscriber.__dict__ }}")
    custom = "<html><body><div class='x'>{{ content }}</div></body></html>"
    html = parse(render("Body text", layout=custom).raw).get_body(("html",)).get_content()
    assert "Body text" in html
    assert "/u/" in html  # no unsubscribe link in the layout: one is added


def test_dkim_signature_covers_the_list_headers_and_verifies(tmp_path):
    key_path, txt = write_dkim_key(tmp_path)
    signer = DkimSigner(key_path.read_bytes(), SELECTOR, "example.org", compose.SIGNED_HEADERS)
    raw = signer.sign(render("Hello {{ subscriber.name }}").raw)
    assert dkim_valid(raw, txt)
    signature = parse(raw)["DKIM-Signature"]
    signed = signature.split("h=")[1].split(";")[0].replace(" ", "").split(":")
    for header in ("from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe",
                   "list-unsubscribe-post"):
        assert header in signed
    # Changing a signed header breaks the signature.
    tampered = raw.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                           b"List-Unsubscribe-Post: List-Unsubscribe=Two-Click")
    assert not dkim_valid(tampered, txt)


def test_non_ascii_and_long_lines_are_encoded_safely():
    long_line = "word " * 600
    mail = parse(render(long_line + "\n\nGrüße, {{ subscriber.name }}").raw)
    raw_lines = render(long_line).raw.split(b"\r\n")
    assert max(map(len, raw_lines)) <= 998
    assert "Grüße, Anna Müller" in mail.get_body(("plain",)).get_content()
    assert "Grüße" in unescape(mail.get_body(("html",)).get_content())


def test_a_value_with_bare_cr_or_lf_goes_out_with_crlf_line_ends_only():
    """A subscriber attribute may hold a lone CR or LF (an import, an API call): on the wire
    every line of both parts still ends in CRLF, and no CR stands alone."""
    reader = compose.Recipient(7, "cr@example.net", "Cy", {"city": "Line\rbreak\nhere"}, 1, 7)
    compiled = compose.compile_campaign(content("From {{ subscriber.attributes.city }}"), CONFIG)
    raw = compiled.render(reader, NOW).raw
    assert raw.count(b"\r") == raw.count(b"\n") == raw.count(b"\r\n")
    assert b"From Line\r\nbreak\r\nhere" in raw  # the text part, 7bit


def test_notice_hook_puts_a_block_at_the_top_for_one_recipient():
    compiled = compose.compile_campaign(content("Body"), CONFIG)

    def notice(recipient):
        if recipient.subscriber_id == 42:
            return compose.NoticeBlock(html="<p class='notice'>Our policy changed.</p>",
                                       text="Our policy changed.")
        return None

    mail = parse(compiled.render(READER, NOW, notice).raw)
    html = mail.get_body(("html",)).get_content()
    assert html.index("Our policy changed.") < html.index("Body")
    assert mail.get_body(("plain",)).get_content().startswith("Our policy changed.")
    other = compose.Recipient(43, "b@example.net", "B", {}, 1, 7)
    assert "policy changed" not in compiled.render(other, NOW, notice).raw.decode()


def test_archive_copy_carries_no_personal_data():
    compiled = compose.compile_campaign(content("Hi {{ subscriber.name }} ({{ subscriber.email }})"),
                                        CONFIG)
    html = compiled.archive_copy()
    assert "Hi  ()" in html and "/u/" not in html and "/preferences/" not in html


def test_archive_pages_list_sent_issues_of_archived_lists(app, client, smtp):
    from campaign_support import NOW as T
    from campaign_support import add_subscribers, drain, make_list, new_campaign

    from newsletter.extensions import db
    from newsletter.sending import campaigns

    with app.app_context():
        public = make_list(db.session, "public-news", archive=True, public=True)
        private = make_list(db.session, "private-news")
        add_subscribers(db.session, public, 1)
        issue = new_campaign(db.session, public, subject="Issue one",
                             body="Hello {{ subscriber.name }}")
        campaigns.send_now(issue, T)
        db.session.commit()
        key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
        campaigns.dispatch_due_campaigns(db.session, key, T)
        issue_id, private_slug = issue.id, private.slug
        db.session.remove()
    drain(app)
    with app.app_context():
        campaigns.finish_sent(db.session, T)
    page = client.get("/archive/public-news").get_data(as_text=True)
    assert "Issue one" in page
    copy = client.get(f"/archive/public-news/{issue_id}")
    assert copy.status_code == 200 and "Reader 0" not in copy.get_data(as_text=True)
    assert "script-src" not in copy.headers["Content-Security-Policy"]
    assert client.get(f"/archive/{private_slug}").status_code == 404
    assert client.get(f"/archive/{private_slug}/{issue_id}").status_code == 404


def test_bare_line_ends_in_personal_values_become_crlf():
    odd = compose.Recipient(1, "x@example.net", "X", {"bio": "one\ntwo\rthree"}, 1, 7)
    compiled = compose.compile_campaign(content("Bio: {{ subscriber.attributes.bio }}"), CONFIG)
    raw = compiled.render(odd, NOW).raw
    assert raw.count(b"\n") == raw.count(b"\r\n") == raw.count(b"\r")


def test_marked_safe_output_is_sanitised_like_the_rest_of_the_html():
    bio = compose.Recipient(1, "x@example.net", "X", {"bio": "<b>bold</b><script>steal()</script>"},
                            1, 7)
    compiled = compose.compile_campaign(content(
        "{{ '<script>alert(1)</script><i>ok</i>'|safe }}\n\n{{ subscriber.attributes.bio|safe }}"
        "\n\n{{ {'onclick': 'steal()'}|xmlattr }}", "markdown"), CONFIG)
    html = parse(compiled.render(bio, NOW).raw).get_body(("html",)).get_content()
    assert "<script" not in html and "alert(1)" not in html and "steal()</script>" not in html
    assert "<i>ok</i>" in html and "<b>bold</b>" in html
    assert "<script" not in compiled.archive_copy()



def test_marked_safe_or_url_values_in_attributes_cannot_leave_their_quotes():
    evil = compose.Recipient(1, "x@example.net", "X", {
        "bio": '<a title=" onmouseover=alert(1) x=">y</a>', "site": "java\tscript:alert(2)"}, 1, 7)
    compiled = compose.compile_campaign(content(
        '<p title="{{ subscriber.attributes.bio|safe }}">'
        '<a href="{{ subscriber.attributes.site }}">site</a>'
        '<a href="{{ unsubscribe_url }}">leave</a></p>', "html"), CONFIG)
    html = parse(compiled.render(evil, NOW).raw).get_body(("html",)).get_content()
    paragraph = html[html.index("<p title="):html.index("</p>")]
    assert "onmouseover" in paragraph  # still there, as inert text inside the title
    assert ' onmouseover=' not in paragraph.replace("&#34; onmouseover=", "")
    assert 'href="#"' in paragraph and "script:" not in paragraph
    assert 'href="https://news.example.org/u/' in paragraph

def test_archive_serves_the_stored_copy_and_never_renders_again(app, client, smtp, monkeypatch):
    from campaign_support import NOW as T
    from campaign_support import add_subscribers, drain, make_list, new_campaign

    from newsletter.extensions import db
    from newsletter.models import Campaign
    from newsletter.sending import campaigns

    with app.app_context():
        public = make_list(db.session, "public-news", archive=True, public=True)
        add_subscribers(db.session, public, 1)
        issue = new_campaign(db.session, public, subject="Issue one", body="Hello, readers")
        campaigns.send_now(issue, T)
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], T)
        issue_id = issue.id
        db.session.remove()
    drain(app)
    with app.app_context():
        campaigns.finish_sent(db.session, T)
    first = client.get(f"/archive/public-news/{issue_id}")
    assert first.status_code == 200 and "Hello, readers" in first.get_data(as_text=True)
    # The content turns runaway behind the app's back, and rendering is made to fail loudly:
    # the archive must answer from its stored copy, byte for byte.
    with app.app_context():
        db.session.get(Campaign, issue_id).body = "{% for a in 'y' * 99999 %}{% for b in " \
                                                  "'y' * 99999 %}{% endfor %}{% endfor %}"
        db.session.commit()

    def no_render(*args, **kwargs):
        raise AssertionError("the archive rendered a template")

    monkeypatch.setattr(compose, "compile_campaign", no_render)
    again = client.get(f"/archive/public-news/{issue_id}")
    assert again.status_code == 200 and again.get_data() == first.get_data()
