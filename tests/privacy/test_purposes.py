"""New uses of data (purposes), end to end on both databases with the real SMTP server:
announcing asks DE and unknown-country subscribers to opt in and offers US an opt-out, once; the
link's page (GET shows, POST acts) records the choice; a campaign for the purpose reaches
exactly those with effective consent, at dispatch and again at send time."""

from __future__ import annotations

import re
from datetime import timedelta
from email import policy as email_policy
from email.parser import BytesParser

import pytest
from campaign_support import NOW, add_subscribers, drain, make_list
from sqlalchemy import func, select, update

from newsletter import links
from newsletter.extensions import db
from newsletter.models import (
    AuditEvent,
    Campaign,
    ConsentEvent,
    ConsentMethod,
    MailingList,
    OutboundMail,
    Purpose,
    PurposeNotice,
    Subscriber,
    utcnow,
)
from newsletter.privacy import policy, purposes
from newsletter.sending import campaigns

from conftest import csrf_token, deliver_queued

DE, US, UNKNOWN = "reader0@example.net", "reader1@example.net", "reader2@example.net"
LINK = re.compile(r"http://newsletter\.test(/purpose/[A-Za-z0-9._-]+)")


@pytest.fixture
def people(app):
    """Three subscribers of one list: in Germany, in the United States, country unknown; and a
    policy version in force (consent events name it)."""
    with app.app_context():
        news = make_list(db.session)
        ids = add_subscribers(db.session, news, 3)
        for subscriber_id, country in zip(ids, ("DE", "US", None), strict=True):
            db.session.execute(update(Subscriber).where(Subscriber.id == subscriber_id)
                               .values(country=country))
        policy.publish(db.session, body="# Policy", summary="First.", material=False,
                       now=utcnow() - timedelta(minutes=1), config=app.config, actor="test")
        db.session.commit()
        return dict(zip((DE, US, UNKNOWN), ids, strict=True))


def create_partners(runner) -> None:
    result = runner.invoke(args=[
        "newsletter", "purpose", "create", "partners", "--name", "Sharing with partners",
        "--description", "We would pass your name and address to carefully chosen partners."])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "partners"


def announce(runner) -> str:
    result = runner.invoke(args=["newsletter", "purpose", "announce", "partners"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def by_recipient(messages) -> dict[str, bytes]:
    return {m.rcpt_tos[0]: m.raw for m in messages}


def text_of(raw: bytes) -> str:
    """The decoded text and HTML parts of the bytes the server received (a link is longer than
    a 7bit line, so the parts are quoted-printable on the wire)."""
    parsed = BytesParser(policy=email_policy.default).parsebytes(raw)
    return "\n".join(part.get_content() for part in parsed.walk()
                     if part.get_content_maintype() == "text")


def purpose_events(session, subscriber_id: int) -> list[tuple[bool, ConsentMethod]]:
    return [(e.granted, e.method) for e in session.scalars(
        select(ConsentEvent).where(ConsentEvent.subscriber_id == subscriber_id,
                                   ConsentEvent.purpose == "purpose:partners")
        .order_by(ConsentEvent.id))]


def send_purpose_campaign(app, runner, tmp_path, subject: str, reach: int | None = None) -> int:
    """`campaign create --purpose partners`, sent now and dispatched; returns its id. `reach`:
    the count it must announce before sending (only those with effective consent)."""
    body = tmp_path / "offer.md"
    body.write_text("# Offers from our partners\n\nHello {{ subscriber.name }}.\n")
    result = runner.invoke(args=["newsletter", "campaign", "create", "--list", "news",
                                 "--subject", subject, "--body-file", str(body),
                                 "--purpose", "partners"])
    assert result.exit_code == 0, result.output
    if reach is not None:
        assert f"; {reach} recipient(s) now" in result.output, result.output
    campaign_id = int(result.output.strip().splitlines()[-1])
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.purpose_id is not None
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"],
                                         NOW)
        db.session.remove()
    return campaign_id


def test_announce_asks_by_country_and_campaign_reaches_exactly_the_consenting(
        app, client, runner, smtp, people, tmp_path):
    create_partners(runner)
    assert announce(runner) == "queued 3"
    assert deliver_queued(app) == 3
    mails = by_recipient(smtp.wait_for(3))
    for address in (DE, UNKNOWN):
        raw = mails[address]
        assert b"\r\nSubject: May we use your data for Sharing with partners?\r\n" in raw
        assert b"Auto-Submitted: auto-generated\r\n" in raw
        body = text_of(raw)
        assert "Yes, I agree: opt in" in body and "opt out" not in body
        assert len(LINK.findall(body)) == 2  # text and HTML part
    us = mails[US]
    assert b"\r\nSubject: A new use of your data: Sharing with partners\r\n" in us
    assert "No, thank you: opt out" in text_of(us) and "opt in" not in text_of(us)
    assert len(LINK.findall(text_of(us))) == 2
    with app.app_context():
        modes = dict(db.session.execute(
            select(PurposeNotice.subscriber_id, PurposeNotice.mode)).all())
        assert modes == {people[DE]: "opt-in", people[UNKNOWN]: "opt-in", people[US]: "opt-out"}

    # Announcing again mails nobody twice.
    smtp.clear()
    assert announce(runner) == "queued 0"
    assert deliver_queued(app) == 0
    assert smtp.messages == []

    # DE opens the link: the page shows a button and changes nothing; the POST opts in.
    path = LINK.search(text_of(mails[DE])).group(1)
    page = client.get(path)
    assert page.status_code == 200
    assert 'value="grant"' in page.get_data(as_text=True)
    with app.app_context():
        assert purpose_events(db.session, people[DE]) == []
    done = client.post(path, data={"choice": "grant"})
    assert done.status_code == 200 and "you agreed" in done.get_data(as_text=True)
    with app.app_context():
        assert purpose_events(db.session, people[DE]) == [(True, ConsentMethod.link)]
        event = db.session.scalar(select(ConsentEvent).where(
            ConsentEvent.purpose == "purpose:partners"))
        assert event.policy_version_id is not None
        assert event.wording.startswith("Yes, you may use my data for: Sharing with partners.")

    send_purpose_campaign(app, runner, tmp_path, "Partner offers", reach=2)
    smtp.clear()
    assert drain(app) == 2
    assert sorted(m.rcpt_tos[0] for m in smtp.wait_for(2)) == [DE, US]


def test_send_time_check_honours_a_withdrawal_after_dispatch(
        app, client, runner, smtp, people, tmp_path):
    create_partners(runner)
    campaign_id = send_purpose_campaign(app, runner, tmp_path, "Partner offers")
    # US (opt-out mode) is queued; then opts out in the preference centre before the send.
    with app.app_context():
        us = db.session.get(Subscriber, people[US])
        prefs = links.preferences_url(app.config, us.id, us.token_version)
        partners = db.session.scalar(select(Purpose.id))
    prefs_path = prefs.removeprefix("http://newsletter.test")
    page = client.get(prefs_path).get_data(as_text=True)
    assert 'id="purpose-partners"' in page and "Sharing with partners" in page
    saved = client.post(f"{prefs_path}/purposes", data={
        "csrf_token": csrf_token(client, prefs_path), f"purpose-{partners}": "withdraw"})
    assert saved.status_code == 303
    with app.app_context():
        assert purpose_events(db.session, people[US]) == [(False, ConsentMethod.preferences)]
    assert drain(app) == 0  # dispatch queued US only; the worker's check drops them
    with app.app_context():
        stats = campaigns.stats(db.session, campaign_id, NOW)
        assert (stats.total, stats.skipped, stats.sent) == (1, 1, 0)
    assert smtp.messages == []


def test_tampered_or_foreign_link_changes_nothing(app, client, runner, smtp, people):
    create_partners(runner)
    announce(runner)
    deliver_queued(app)
    path = LINK.search(text_of(by_recipient(smtp.wait_for(3))[DE])).group(1)
    token = path.rsplit("/", 1)[1]
    tampered = token[:-3] + ("aaa" if token[-3:] != "aaa" else "bbb")
    with app.app_context():
        de = db.session.get(Subscriber, people[DE])
        # A real token signed for another purpose (the preference centre) may not act here.
        foreign = links.preferences_token(app.config, de.id, de.token_version)
    for bad in (tampered, foreign, "not-a-token"):
        assert client.get(f"/purpose/{bad}").status_code == 400
        assert client.post(f"/purpose/{bad}", data={"choice": "grant"}).status_code == 400
    assert client.post(path, data={"choice": "maybe"}).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count(ConsentEvent.id)).where(
            ConsentEvent.purpose.like("purpose:%"))) == 0


def test_existing_slug_and_bad_countries_are_refused_with_a_clear_message(app, runner):
    create_partners(runner)
    again = runner.invoke(args=["newsletter", "purpose", "create", "partners", "--name", "X",
                                "--description", "Y"])
    assert again.exit_code != 0 and "exists already" in again.output
    bad = runner.invoke(args=["newsletter", "purpose", "create", "tips", "--name", "Tips",
                              "--description", "Product tips", "--opt-in-countries", "DE,XX"])
    assert bad.exit_code != 0 and "'XX' is not a two-letter ISO 3166" in bad.output
    chosen = runner.invoke(args=["newsletter", "purpose", "create", "tips", "--name", "Tips",
                                 "--description", "Product tips", "--opt-in-countries", "fr, de"])
    assert chosen.exit_code == 0, chosen.output
    missing = runner.invoke(args=["newsletter", "campaign", "create", "--list", "x",
                                  "--subject", "s", "--body-file", __file__, "--purpose", "nope"])
    assert missing.exit_code != 0 and "no purpose 'nope'" in missing.output
    listed = runner.invoke(args=["newsletter", "purpose", "list"])
    assert "partners\ttold opt-in 0 opt-out 0" in listed.output
    assert "opt-in: DE,FR\tTips" in listed.output
    with app.app_context():
        for fields, words in (({"name": "Two\nlines"}, "name: one line"),
                              ({"description": "nul \x00 inside"}, "without control"),
                              ({"slug": "Bad Slug!"}, "lower-case letters")):
            arguments = {"slug": "other", "name": "Other", "description": "Other use.", **fields}
            with pytest.raises(purposes.PurposeError, match=words):
                purposes.create(db.session, now=NOW, config=app.config, actor="test",
                                **arguments)
        partners = db.session.scalar(select(Purpose).where(Purpose.slug == "partners"))
        # The default set, as configured: the EU/EEA, UK, CH, CA, BR; not the US.
        assert {"DE", "FR", "NO", "GB", "CH", "CA", "BR"} <= set(partners.opt_in_countries)
        assert "US" not in partners.opt_in_countries
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "purpose.create")) == 2


def test_default_opt_in_countries_come_from_the_environment(app, tmp_path):
    from config import load_config

    environ = {"SECRET_KEY": "x" * 32, "NEWSLETTER_INSTANCE_PATH": str(tmp_path)}
    assert load_config(environ)["NEWSLETTER_PURPOSE_OPT_IN_COUNTRIES"].startswith("AT,BE")
    config = load_config({**environ, "NEWSLETTER_PURPOSE_OPT_IN_COUNTRIES": "us, ca"})
    with app.app_context():
        purpose = purposes.create(db.session, slug="tips", name="Tips", description="Tips.",
                                  now=NOW, config=config, actor="test")
        assert purpose.opt_in_countries == ["CA", "US"]


@pytest.mark.postgresql_only
def test_two_announce_runs_at_once_mail_each_person_once(app, smtp, people, monkeypatch):
    """Run A holds its notice rows uncommitted; run B starts, is seen waiting on A's rows in
    pg_stat_activity, and adds nothing once A commits."""
    import threading

    from newsletter.sending import mailer

    with app.app_context():
        purposes.create(db.session, slug="partners", name="Partners", description="Sharing.",
                        now=NOW, config=app.config, actor="test")
        db.session.commit()
    inserted, results = threading.Event(), {}
    queue = mailer.queue

    def queue_then_hold(session, **kwargs):
        if threading.current_thread().name == "A" and not inserted.is_set():
            inserted.set()
            with app.app_context():
                deadline = utcnow() + timedelta(seconds=20)
                while db.session.scalar(select(func.count()).select_from(
                        select(1).select_from(db.text("pg_stat_activity"))
                        .where(db.text("wait_event_type = 'Lock' AND query ILIKE "
                                       "'%purpose_notice%'")).subquery())) == 0:
                    assert utcnow() < deadline, "run B never waited on run A's rows"
                    db.session.rollback()
                db.session.remove()
        return queue(session, **kwargs)

    monkeypatch.setattr(mailer, "queue", queue_then_hold)

    def run(name: str) -> None:
        with app.app_context():
            purpose = purposes.by_slug(db.session, "partners")
            results[name] = purposes.announce(db.session, app.config, purpose, NOW, name)
            db.session.remove()

    a = threading.Thread(target=run, args=("A",), name="A")
    a.start()
    assert inserted.wait(20)
    b = threading.Thread(target=run, args=("B",), name="B")
    b.start()
    a.join(30)
    b.join(30)
    assert results == {"A": 3, "B": 0}
    with app.app_context():
        assert db.session.scalar(select(func.count(OutboundMail.id))) == 3
        assert db.session.scalar(select(func.count(PurposeNotice.id))) == 3
    assert deliver_queued(app) == 3
    assert sorted(m.rcpt_tos[0] for m in smtp.wait_for(3)) == [DE, US, UNKNOWN]


def test_each_occurrence_of_a_recurring_series_keeps_its_purpose(app, people):
    with app.app_context():
        purpose = purposes.create(db.session, slug="tips", name="Tips", description="Tips.",
                                  now=NOW, config=app.config, actor="test")
        series = campaigns.create(db.session, subject="Tips", body="Hi",
                                  list_ids=[db.session.scalar(select(MailingList.id))],
                                  now=NOW, cron="0 9 * * *", purpose_id=purpose.id)
        db.session.commit()
        (child,) = campaigns.spawn_occurrences(db.session, series.next_occurrence_at)
        assert child.parent_id == series.id and child.purpose_id == purpose.id


def test_whoever_subscribes_after_the_announcement_is_told_by_the_scheduler(
        app, runner, smtp, people):
    from newsletter.scheduler import tell_purpose_newcomers

    create_partners(runner)
    with app.app_context():  # not announced yet: the job tells nobody
        tell_purpose_newcomers(app)
        assert db.session.scalar(select(func.count()).select_from(PurposeNotice)) == 0
    assert announce(runner) == "queued 3"
    assert deliver_queued(app) == 3
    smtp.wait_for(3)
    smtp.clear()
    with app.app_context():
        news = db.session.scalar(select(MailingList))
        (newcomer,) = add_subscribers(db.session, news, 1, start=7, prefix="newcomer")
        db.session.execute(update(Subscriber).where(Subscriber.id == newcomer).values(country="DE"))
        db.session.commit()
        tell_purpose_newcomers(app)
        tell_purpose_newcomers(app)  # a second run tells nobody twice
        assert db.session.scalar(select(PurposeNotice.mode).where(
            PurposeNotice.subscriber_id == newcomer)) == "opt-in"
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "purpose.announce.newcomers")) == 1
    assert deliver_queued(app) == 1
    (mail,) = smtp.wait_for(1)
    assert mail.rcpt_tos == ["newcomer7@example.net"]
    assert b"\r\nSubject: May we use your data for Sharing with partners?\r\n" in mail.raw
    assert len(LINK.findall(text_of(mail.raw))) == 2
