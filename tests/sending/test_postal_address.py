"""The sender's postal address in every newsletter (CAN-SPAM asks for one in commercial mail),
read on the bytes the SMTP server received: the list's own, else NEWSLETTER_POSTAL_ADDRESS,
in both parts and whatever layout the list uses; none when neither is set. Set from the admin
form, the API and the CLI."""

from __future__ import annotations

from email import policy as email_policy
from email.parser import BytesParser
from html import unescape

from campaign_support import NOW, add_subscribers, drain, make_list, new_campaign
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import MailingList
from newsletter.sending import campaigns, layouts

from conftest import csrf_token

ADDRESS = "Example Ltd, 1 High Street, London N1 1AA, United Kingdom"


def _send_to(app, slug: str, count: int, start: int) -> None:
    with app.app_context():
        news = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
        add_subscribers(db.session, news, count, start=start)
        campaign = new_campaign(db.session, news, body="Marketer's words.")
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        db.session.remove()


def _parts(message) -> tuple[str, str]:
    parsed = BytesParser(policy=email_policy.default).parsebytes(message.raw)
    return (unescape(parsed.get_body(("html",)).get_content()),
            parsed.get_body(("plain",)).get_content().replace("\r\n", "\n"))


def test_the_lists_address_else_the_instances_in_both_parts_of_every_layout(app, smtp):
    app.config["NEWSLETTER_POSTAL_ADDRESS"] = "Instance GmbH, Hauptstr. 1, 10115 Berlin"
    with app.app_context():
        make_list(db.session, "own", postal_address=ADDRESS)
        mjml = make_list(db.session, "mjml", postal_address=ADDRESS)
        make_list(db.session, "bare", name="Bare")  # a layout of its own without the words
        bare = db.session.scalar(select(MailingList).where(MailingList.slug == "bare"))
        layouts.save(db.session, mailing_list=bare, name="Bare", source_format="html",
                     source="<html><body>{{ content }}</body></html>", now=NOW, actor="test",
                     make_default=True)
        layouts.save(db.session, mailing_list=mjml, name="Responsive", source_format="mjml",
                     source=layouts.starter("responsive").source(), now=NOW, actor="test",
                     make_default=True)
        db.session.commit()
    _send_to(app, "own", 1, 0)
    _send_to(app, "mjml", 1, 1)
    _send_to(app, "bare", 1, 2)
    assert drain(app) == 3
    received = {m.rcpt_tos[0]: _parts(m) for m in smtp.wait_for(3)}
    for reader in ("reader0@example.net", "reader1@example.net"):
        html, text = received[reader]
        assert ADDRESS in html and f"\n{ADDRESS}\n" in text
        assert "Instance GmbH" not in html + text
    html, text = received["reader2@example.net"]
    assert "<p>Instance GmbH, Hauptstr. 1, 10115 Berlin</p>" in html
    assert "\nInstance GmbH, Hauptstr. 1, 10115 Berlin\n" in text


def test_no_address_no_line(app, smtp):
    with app.app_context():
        make_list(db.session, "news")
    _send_to(app, "news", 1, 0)
    assert drain(app) == 1
    html, text = _parts(smtp.wait_for(1)[0])
    assert text.rstrip().endswith("/privacy/request") and "<p></p>" not in html


def test_set_from_the_admin_form_the_api_and_the_cli(app, admin_client, client, api_token,
                                                      runner):
    token = csrf_token(admin_client, "/admin/lists/new")
    assert admin_client.post("/admin/lists/new", data={
        "csrf_token": token, "slug": "form", "name": "Form", "postal_address": f"  {ADDRESS} ",
        "double_opt_in": "on"}).status_code in (302, 303)
    refused = admin_client.post("/admin/lists/new", data={
        "csrf_token": token, "slug": "bad", "name": "Bad", "postal_address": "a\r\nBcc: x"})
    assert refused.status_code == 400 and "postal address" in refused.get_data(as_text=True)
    created = client.post("/api/v1/lists", headers=api_token, json={
        "slug": "api", "name": "API", "postal_address": ADDRESS})
    assert created.status_code == 201 and created.get_json()["postal_address"] == ADDRESS
    assert runner.invoke(args=["newsletter", "lists", "create", "cli", "--name", "CLI",
                               "--postal-address", ADDRESS]).exit_code == 0
    with app.app_context():
        stored = {slug: address for slug, address in db.session.execute(
            select(MailingList.slug, MailingList.postal_address))}
    assert stored == {"form": ADDRESS, "api": ADDRESS, "cli": ADDRESS}


def test_the_campaign_page_says_when_no_address_would_be_in_the_footer(app, admin_client):
    with app.app_context():
        bare = make_list(db.session, "bare", name="Bare")
        campaign_id = new_campaign(db.session, bare).id
    page = admin_client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'id="no-postal-address"' in page and ">Bare</a>" in page
    app.config["NEWSLETTER_POSTAL_ADDRESS"] = ADDRESS
    page = admin_client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'id="no-postal-address"' not in page
