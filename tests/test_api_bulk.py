"""Bulk actions through the JSON API (newsletter/web/api/subscribers_bulk.py), with real tokens
on both databases: the same domain calls as the admin page (subscribers/bulk.py), so the same
rows change and the same audit rows are written; erasing needs a privacy token and
`"confirm": "erase"`; one transaction; 401/403/404/422 where they belong."""

from __future__ import annotations

import csv
import io

import pytest
import test_admin_bulk
from sqlalchemy import func, select
from test_admin_bulk import HOSTILE, _audit, _bulk, _hash, _send_campaign
from test_api_tokens import make_token

from newsletter.extensions import db
from newsletter.models import (
    AuditEvent,
    ConsentEvent,
    OutboundMail,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    Suppression,
)
from newsletter.subscribers import bulk

people = test_admin_bulk.people  # ada, bob, cy on news (dee too, suppressed); other: empty


@pytest.fixture
def tokens(app):
    return {role: make_token(app, role) for role in Role}


def _post(client, headers, body):
    return client.post("/api/v1/subscribers/bulk", headers=headers, json=body)


def _states(app, list_id: int) -> dict:
    with app.app_context():
        return {email: status.value for email, status in db.session.execute(
            select(Subscriber.email, Subscription.status).join(Subscription)
            .where(Subscription.list_id == list_id))}


def test_ticked_people_leave_a_list_audited_as_the_admin_page_does(app, client, admin_client,
                                                                   people, tokens):
    response = _post(client, tokens[Role.marketer], {
        "action": "unsubscribe", "list": "news", "ids": [people["ada"], people["bob"]]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"action": "unsubscribe", "chosen": 2, "changed": 2,
                                   "unchanged": 0, "mails_queued": 0}
    assert _states(app, people["news"]) == {
        "ada@example.org": "unsubscribed", "bob@example.org": "unsubscribed",
        "cy@example.org": "confirmed", "dee@example.org": "confirmed"}
    with app.app_context():
        withdrawn = db.session.scalars(select(ConsentEvent.subscriber_id).where(
            ConsentEvent.granted.is_(False))).all()
        assert sorted(withdrawn) == [people["ada"], people["bob"]]
    per_person = _audit(app, "subscriber.unsubscribe")
    assert sorted(int(row.subject_id) for row in per_person) == [people["ada"], people["bob"]]
    assert {row.actor for row in per_person} == {"api:marketer tests"}
    [summary] = _audit(app, "subscribers.bulk_unsubscribe")
    assert summary.actor == "api:marketer tests" and summary.origin == "127.0.0.1"
    assert summary.detail == {"list": "news", "chosen": 2, "changed": 2, "subjects": [
        _hash(app, "ada@example.org"), _hash(app, "bob@example.org")]}
    assert _send_campaign(app, people["news"]) == 1  # cy only (dee is suppressed)

    # The admin page doing the same for cy writes rows of the same shape.
    with app.app_context():
        before = db.session.scalar(select(func.max(AuditEvent.id)))
    assert _bulk(admin_client, {"action": "unsubscribe", "target_list_id": people["news"],
                                "ids": [people["cy"]]}).status_code == 303
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.id > before)
                                  .where(AuditEvent.action.like("subscriber%"))
                                  .order_by(AuditEvent.id)).all()
        assert [(r.action, r.subject_type) for r in rows] == [
            ("subscriber.unsubscribe", "subscriber"), ("subscribers.bulk_unsubscribe",
                                                       "subscribers")]
        assert rows[0].detail.keys() == per_person[0].detail.keys()
        assert rows[1].detail.keys() == summary.detail.keys()


def test_adding_asks_for_consent_and_respects_the_suppression_list(app, client, people, tokens,
                                                                   smtp):
    response = _post(client, tokens[Role.marketer], {
        "action": "add", "list": "other",
        "ids": [people["ada"], people["bob"], people["dee"]]})
    assert response.get_json() == {"action": "add", "chosen": 3, "changed": 2, "unchanged": 1,
                                   "mails_queued": 2}
    smtp.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["ada@example.org", "bob@example.org"]
    assert _states(app, people["other"]) == {"ada@example.org": "pending",
                                             "bob@example.org": "pending"}
    assert len(_audit(app, "subscriber.add")) == 2
    [summary] = _audit(app, "subscribers.bulk_add")
    assert summary.detail["consent_basis"] == "double-opt-in" and summary.detail["chosen"] == 3
    smtp.clear()
    assert _send_campaign(app, people["other"]) == 0  # nobody has confirmed yet

    existing = _post(client, tokens[Role.marketer], {
        "action": "add", "list": "other", "ids": [people["cy"]], "consent_basis": "existing"})
    assert existing.get_json()["changed"] == 1
    assert _states(app, people["other"])["cy@example.org"] == "confirmed"
    smtp.wait_for(1)
    assert [m.rcpt_tos for m in smtp.messages] == [["cy@example.org"]]
    assert "confirm" not in smtp.messages[0].message["Subject"].lower()
    assert _audit(app, "subscribers.bulk_add")[1].detail["consent_basis"] == "existing"


def test_matching_chooses_what_the_admin_filter_chooses_and_export_is_csv(app, client, people,
                                                                          tokens):
    response = _post(client, tokens[Role.marketer], {
        "action": "export", "matching": {"q": "o", "list": "news", "status": "confirmed"}})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["email"] for r in rows] == [f"{n}@example.org" for n in ("ada", "bob", "cy", "dee")]
    assert rows[1]["name"] == "'" + HOSTILE  # the formula defused
    [summary] = _audit(app, "subscribers.bulk_export")
    assert summary.actor == "api:marketer tests" and len(summary.detail["subjects"]) == 4
    # "active" is the admin filter's: a suppressed address (dee) is not active.
    response = _post(client, tokens[Role.marketer], {
        "action": "unsubscribe", "list": "news", "matching": {"status": "active"}})
    assert response.get_json()["chosen"] == 3
    assert _states(app, people["news"])["dee@example.org"] == "confirmed"


def test_erasing_needs_a_privacy_token_and_the_confirmation(app, client, people, tokens):
    ids = [people["ada"], people["bob"]]
    marketer = _post(client, tokens[Role.marketer], {"action": "delete", "ids": ids,
                                                     "confirm": "erase"})
    assert marketer.status_code == 403
    assert marketer.get_json()["message"] == "a marketer token may not delete"
    unconfirmed = _post(client, tokens[Role.privacy], {"action": "delete", "ids": ids})
    assert unconfirmed.status_code == 422
    assert unconfirmed.get_json()["message"] == \
        'this erases 2 subscriber(s) for good: say "confirm": "erase"'
    wrong = _post(client, tokens[Role.privacy], {"action": "delete", "ids": ids,
                                                 "confirm": "yes"})
    assert wrong.status_code == 422 and "confirm" in wrong.get_json()["errors"]["json"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(
            Subscriber.status == SubscriberStatus.erased)) == 0
    assert _audit(app, "privacy.erase") == []

    done = _post(client, tokens[Role.privacy], {"action": "delete", "ids": ids,
                                                "confirm": "erase"})
    assert done.get_json() == {"action": "delete", "chosen": 2, "changed": 2, "unchanged": 0,
                               "mails_queued": 0}
    with app.app_context():
        erased = db.session.scalars(select(Subscriber.id).where(
            Subscriber.status == SubscriberStatus.erased)).all()
        assert sorted(erased) == ids
        assert db.session.scalar(select(func.count()).where(
            Subscriber.email.in_(["ada@example.org", "bob@example.org"]))) == 0
        reasons = db.session.scalars(select(Suppression.reason)).all()
        assert sorted(r.value for r in reasons) == ["erasure", "erasure", "manual"]
        assert db.session.scalar(select(func.count(OutboundMail.id))) == 0  # nobody is mailed
    assert {row.actor for row in _audit(app, "privacy.erase")} == {"api:privacy tests"}
    [summary] = _audit(app, "subscribers.bulk_delete")
    assert summary.detail["subjects"] == [_hash(app, "ada@example.org"),
                                          _hash(app, "bob@example.org")]
    # Erased people are never chosen again.
    again = _post(client, tokens[Role.admin], {"action": "delete", "ids": ids,
                                               "confirm": "erase"})
    assert again.status_code == 422
    assert again.get_json()["message"] == "Choose at least one subscriber."


def test_tokens_roles_and_bad_requests(app, client, people, tokens, monkeypatch):
    body = {"action": "unsubscribe", "list": "news", "ids": [people["ada"]]}
    assert client.post("/api/v1/subscribers/bulk", json=body).status_code == 401
    assert _post(client, {"Authorization": "Bearer nope"}, body).status_code == 401
    assert _post(client, tokens[Role.read_only], body).status_code == 403
    assert _post(client, tokens[Role.privacy], body).status_code == 403
    for bad in ({**body, "action": "shred"}, {"action": "unsubscribe", "ids": [1]},
                {**body, "matching": {"q": "a"}}, {"action": "export"},
                {**body, "ids": [0]}, {**body, "consent_basis": "trust-me"}):
        response = _post(client, tokens[Role.marketer], bad)
        assert response.status_code == 422, bad
    assert _post(client, tokens[Role.marketer], {**body, "list": "nope"}).status_code == 404
    assert _post(client, tokens[Role.marketer], {
        "action": "export", "matching": {"list": "nope"}}).status_code == 404
    # Over the action's ceiling: refused with the count, nobody changed.
    monkeypatch.setitem(bulk.MAX_CHOSEN, "unsubscribe", 2)
    over = _post(client, tokens[Role.marketer], {"action": "unsubscribe", "list": "news",
                                                 "matching": {}})
    assert over.status_code == 422
    assert over.get_json()["message"].startswith("4 subscribers chosen; at most 2 at once")
    assert set(_states(app, people["news"]).values()) == {"confirmed"}
    with app.app_context():
        assert db.session.scalar(select(func.count(ConsentEvent.id))) == 0
        assert _audit(app, "subscribers.bulk_unsubscribe") == []


def test_an_address_that_no_longer_passes_adds_nobody(app, client, people, tokens, smtp):
    with app.app_context():
        old = Subscriber(email="old row@example.org", status=SubscriberStatus.active)
        db.session.add(old)
        db.session.commit()
        old_id = old.id
    response = _post(client, tokens[Role.marketer], {
        "action": "add", "list": "other", "ids": [people["ada"], old_id]})
    assert response.status_code == 422
    assert response.get_json()["message"].startswith("old row@example.org:")
    assert _states(app, people["other"]) == {}
    assert _audit(app, "subscribers.bulk_add") == []
    assert smtp.messages == []
