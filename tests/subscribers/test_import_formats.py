"""Exports of other tools import as they are (import_formats.py): the header row says whose, the
extra columns become attributes, people who left there are skipped, the tool's proof of consent
is kept; and an imported attribute reaches a campaign on the real SMTP server."""

from __future__ import annotations

import pytest
from campaign_support import drain
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import ConsentEvent, MailingList, Subscriber, utcnow
from newsletter.sending import campaigns
from newsletter.subscribers import import_formats

MAILCHIMP = (
    '"Email Address","First Name","Last Name","Plan","MEMBER_RATING","OPTIN_TIME","OPTIN_IP",'
    '"CONFIRM_TIME","CONFIRM_IP","LATITUDE","LONGITUDE","GMTOFF","DSTOFF","TIMEZONE","CC",'
    '"REGION","LAST_CHANGED","LEID","EUID","NOTES","TAGS"\n'
    '"ada@example.org","Ada","Lovelace","pro",2,"2024-03-01 10:00:00","","2024-03-01 10:05:00",'
    '"203.0.113.7",,,,,,"GB",,"2024-03-01 10:05:00",123,"abc",,\n'
    '"grace@example.org","Grace","Hopper","free",2,"2024-04-02 08:00:00","",'
    '"2024-04-02 08:01:00","198.51.100.9",,,,,,"US",,"2024-04-02 08:01:00",124,"abd",,\n'
)
MAILCHIMP_UNSUBSCRIBED = (
    '"Email Address","First Name","Last Name","OPTIN_TIME","CONFIRM_IP","UNSUB_TIME",'
    '"UNSUB_CAMPAIGN_TITLE"\n'
    '"left@example.org","Left","Early","2024-01-01 00:00:00","192.0.2.1","2024-02-01 00:00:00",'
    '"January"\n'
)
LISTMONK = (
    "uuid,email,name,attributes,status,created_at,updated_at\n"
    '5e1b,ada@example.org,Ada,"{""plan"": ""pro"", ""City"": ""London"", ""tags"": [1, 2]}",'
    "enabled,2024-03-01 10:00:00,2024-03-01 10:00:00\n"
    '5e1c,spam@example.org,Spam,"{}",blocklisted,2024-03-01 10:00:00,2024-03-01 10:00:00\n'
)
SENDY = (
    '"Name","Email","Joined","Last activity","Added via","Opt-in method","IP address","Country",'
    '"Country code","Signed up from","Status","GDPR","Plan"\n'
    '"Ada","ada@example.org","Mar 1, 2024","Mar 2, 2024","Standard subscribe form",'
    '"Double opt-in","203.0.113.7","United Kingdom","GB","https://example.org","Active","Yes","pro"\n'
    '"Bo","bo@example.org","Mar 1, 2024","Mar 2, 2024","API","Single opt-in","No data","No data",'
    '"","","Unsubscribed","No","free"\n'
)
SUBSTACK = (
    "email,active_subscription,expiry,plan,email_disabled,created_at,first_payment_at\n"
    "ada@example.org,true,2026-01-01,yearly,false,2024-03-01T10:00:00Z,2024-03-01\n"
    "quiet@example.org,false,,other,true,2024-03-01T10:00:00Z,\n"
)


@pytest.fixture
def news(app):
    with app.app_context():
        row = MailingList(slug="news", name="News", sender_address="news@example.org",
                          sender_name="The News")
        db.session.add(row)
        db.session.commit()
        return row.id


def run_import(runner, tmp_path, content: str, *args: str):
    path = tmp_path / "export.csv"
    path.write_text(content, encoding="utf-8")
    return runner.invoke(args=["newsletter", "import", str(path), "--list", "news", *args])


def people(app) -> dict[str, Subscriber]:
    with app.app_context():
        rows = db.session.scalars(select(Subscriber)).all()
        for row in rows:
            db.session.expunge(row)
        return {row.email: row for row in rows}


def test_layouts_are_recognised_by_their_header_row():
    def detected(csv_text: str) -> str:
        return import_formats.detect(next(iter([csv_text.splitlines()[0]]))
                                     .replace('"', "").split(",")).format.name

    assert [detected(t) for t in (MAILCHIMP, MAILCHIMP_UNSUBSCRIBED, LISTMONK, SENDY, SUBSTACK,
                                  "email,name,Plan\n")] == \
        ["Mailchimp", "Mailchimp", "listmonk", "Sendy", "Substack", "CSV"]
    with pytest.raises(import_formats.UnknownLayout):
        import_formats.detect(["E-Mail-Adresse?", "Name"])


def test_mailchimp_export_imports_with_plan_attribute_and_proof_of_consent(app, runner, tmp_path,
                                                                          news):
    result = run_import(runner, tmp_path, MAILCHIMP, "--consent-basis", "existing")
    assert result.exit_code == 0, result.output
    assert "2 rows: 2 were subscribed" in result.output
    assert "read as Mailchimp export; attributes: plan" in result.output
    found = people(app)
    assert found["ada@example.org"].name == "Ada Lovelace"
    assert found["ada@example.org"].country == "GB"
    # The tool's bookkeeping (LEID, MEMBER_RATING, ...) is not kept; the marketer's column is.
    assert found["ada@example.org"].attributes == {"plan": "pro"}
    assert found["grace@example.org"].attributes == {"plan": "free"}
    with app.app_context():
        event = db.session.scalar(select(ConsentEvent).where(
            ConsentEvent.subscriber_id == found["ada@example.org"].id))
        assert event.ip == "203.0.113.7"  # CONFIRM_IP
        assert "Mailchimp recorded the consent at 2024-03-01 10:00:00" in event.wording
        assert "from 203.0.113.7" in event.wording


def test_mailchimp_unsubscribed_export_brings_nobody_back(app, runner, tmp_path, news):
    result = run_import(runner, tmp_path, MAILCHIMP_UNSUBSCRIBED, "--consent-basis", "existing")
    assert result.exit_code == 0, result.output
    assert "1 skipped" in result.output
    assert people(app) == {}


def test_listmonk_export_keeps_its_attributes_json(app, runner, tmp_path, news):
    result = run_import(runner, tmp_path, LISTMONK, "--consent-basis", "existing")
    assert result.exit_code == 0, result.output
    found = people(app)
    assert set(found) == {"ada@example.org"}  # the blocklisted one is skipped
    assert found["ada@example.org"].attributes == {"plan": "pro", "city": "London",
                                                   "tags": "[1, 2]"}


def test_sendy_export_keeps_custom_fields_and_skips_the_unsubscribed(app, runner, tmp_path, news):
    result = run_import(runner, tmp_path, SENDY, "--consent-basis", "existing")
    assert result.exit_code == 0, result.output
    found = people(app)
    assert set(found) == {"ada@example.org"}
    assert found["ada@example.org"].attributes == {"plan": "pro"}
    assert found["ada@example.org"].country == "GB"


def test_substack_export_skips_disabled_email(app, runner, tmp_path, news):
    result = run_import(runner, tmp_path, SUBSTACK, "--consent-basis", "existing")
    assert result.exit_code == 0, result.output
    found = people(app)
    assert set(found) == {"ada@example.org"}
    assert found["ada@example.org"].attributes == {"active_subscription": "true",
                                                   "expiry": "2026-01-01", "plan": "yearly"}


def test_an_import_fills_missing_attributes_but_never_overwrites(app, runner, tmp_path, news):
    with app.app_context():
        db.session.add(Subscriber(email="ada@example.org", attributes={"plan": "legacy"},
                                  status="active"))
        db.session.commit()
    result = run_import(runner, tmp_path, "email,plan,city\nada@example.org,pro,Paris\n",
                        "--consent-basis", "existing")
    assert result.exit_code == 0, result.output
    assert people(app)["ada@example.org"].attributes == {"plan": "legacy", "city": "Paris"}


def test_mailchimp_plan_reaches_the_campaign_on_the_smtp_server(app, runner, tmp_path, news, smtp):
    assert run_import(runner, tmp_path, MAILCHIMP, "--consent-basis", "existing").exit_code == 0
    with app.app_context():
        campaign = campaigns.create(db.session, subject="Your plan", list_ids=[news],
                                    body="Hello {{ subscriber.name }}, your plan: "
                                         "{{ subscriber.attributes.plan }}.", now=utcnow())
        campaigns.send_now(campaign, utcnow())
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"],
                                         utcnow())
        db.session.remove()
    assert drain(app) == 2
    bodies = {m.rcpt_tos[0]: m.message.get_body(("plain",)).get_content() for m in smtp.messages}
    assert "your plan: pro." in bodies["ada@example.org"]
    assert "your plan: free." in bodies["grace@example.org"]
