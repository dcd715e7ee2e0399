"""Policy versions: publishing (dates checked, never edited), the CLI, the API, the admin page,
and the consent events that record the version in force."""

from __future__ import annotations

from datetime import timedelta

import pytest
from campaign_support import NOW, add_subscribers, make_list
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import (
    ConsentEvent,
    ConsentMethod,
    PolicyNotice,
    PolicyVersion,
    Role,
    Subscriber,
    SubscriberStatus,
)
from newsletter.privacy import consent, policy

from conftest import csrf_token


def publish(app, **kwargs):
    kwargs.setdefault("body", "# Policy\n\nWe keep little.\n")
    kwargs.setdefault("summary", "First version.")
    kwargs.setdefault("material", False)
    kwargs.setdefault("now", NOW)
    version = policy.publish(db.session, config=app.config, actor="test", **kwargs)
    db.session.commit()
    return version


def test_defaults_effective_now_and_deadline_after_the_notice_days(app):
    with app.app_context():
        version = publish(app)
        assert version.version == "1"
        assert version.effective_at == NOW
        assert version.notice_deadline == NOW + timedelta(days=30)


@pytest.mark.parametrize("field, moment, words", [
    ("effective_at", NOW - timedelta(days=1), "is in the past"),
    ("deadline", NOW - timedelta(hours=1), "is before publication"),
])
def test_past_effective_date_or_deadline_before_publication_is_refused(app, field, moment, words):
    with app.app_context():
        with pytest.raises(policy.PolicyError, match=words):
            publish(app, **{field: moment})
        db.session.rollback()
        assert db.session.scalar(select(PolicyVersion.id)) is None


def test_a_published_version_is_never_edited(app):
    with app.app_context():
        version = publish(app)
        version.body = "something else"
        with pytest.raises(ValueError, match="cannot be edited"):
            db.session.commit()
        db.session.rollback()
        assert db.session.get(PolicyVersion, version.id).body.startswith("# Policy")


def test_material_version_makes_only_active_subscribers_owe(app):
    with app.app_context():
        news = make_list(db.session)
        active = add_subscribers(db.session, news, 2)
        gone = add_subscribers(db.session, news, 1, prefix="gone")
        db.session.get(Subscriber, gone[0]).status = SubscriberStatus.unsubscribed
        db.session.commit()
        version = publish(app, material=True)
        owed = db.session.scalars(select(PolicyNotice.subscriber_id).where(
            PolicyNotice.policy_version_id == version.id, PolicyNotice.delivered_at.is_(None)))
        assert sorted(owed) == active


def test_consent_events_record_the_version_in_force(app):
    with app.app_context():
        news = make_list(db.session)
        (sid,) = add_subscribers(db.session, news, 1)
        subscriber = db.session.get(Subscriber, sid)
        first = publish(app).id
        later = publish(app, summary="Second.", effective_at=NOW + timedelta(days=10)).id
        event = consent.record(db.session, subscriber, purpose="newsletter:news", granted=True,
                               method=ConsentMethod.form, now=NOW + timedelta(days=1))
        assert event.policy_version_id == first
        event = consent.record(db.session, subscriber, purpose="newsletter:news", granted=True,
                               method=ConsentMethod.form, now=NOW + timedelta(days=11))
        assert event.policy_version_id == later
        db.session.commit()
        assert db.session.scalar(select(ConsentEvent.id).where(
            ConsentEvent.policy_version_id.is_(None))) is None


def test_cli_publish_list_show(app, runner, tmp_path):
    text = tmp_path / "policy.md"
    text.write_text("# Policy\n\nWe keep your address.\n", encoding="utf-8")
    result = runner.invoke(args=["newsletter", "policy", "publish", "--file", str(text),
                                 "--summary", "We keep your address.", "--material"])
    assert result.exit_code == 0, result.output
    version_id = int(result.output.strip().splitlines()[-1])
    listed = runner.invoke(args=["newsletter", "policy", "list"])
    assert listed.exit_code == 0 and "material" in listed.output
    shown = runner.invoke(args=["newsletter", "policy", "show", str(version_id)])
    assert "We keep your address." in shown.output and "material: yes" in shown.output
    refused = runner.invoke(args=["newsletter", "policy", "publish", "--file", str(text),
                                  "--summary", "x", "--effective-at", "2001-01-01"])
    assert refused.exit_code != 0 and "in the past" in refused.output
    swept = runner.invoke(args=["newsletter", "policy", "sweep"])
    assert swept.exit_code == 0 and swept.output.strip() == "queued 0"


def test_api_publishes_and_lists_versions(app, client, api_token):
    response = client.post("/api/v1/policy-versions", headers=api_token, json={
        "body": "# Policy\n\nText.", "summary": "Shorter.", "material": True})
    assert response.status_code == 201, response.get_json()
    version_id = response.get_json()["id"]
    listed = client.get("/api/v1/policy-versions", headers=api_token).get_json()
    assert [v["id"] for v in listed] == [version_id]
    assert listed[0]["notices"] == {"newsletter": 0, "standalone": 0, "owed": 0}
    bad = client.post("/api/v1/policy-versions", headers=api_token, json={
        "body": "x", "summary": "y", "notice_deadline": "2001-01-01T00:00:00Z"})
    assert bad.status_code == 422 and "before publication" in bad.get_json()["message"]
    assert client.get(f"/api/v1/policy-versions/{version_id}", headers=api_token).status_code == 200
    assert client.get("/api/v1/policy-versions").status_code == 401


def test_admin_page_needs_the_privacy_role_and_publishes(app, client, auth):
    auth.create(email="m@example.org", role=Role.marketer)
    auth.login(email="m@example.org")
    assert client.get("/admin/policy").status_code == 403
    auth.logout()
    auth.create(email="p@example.org", role=Role.privacy)
    auth.login(email="p@example.org")
    token = csrf_token(client, "/admin/policy")
    response = client.post("/admin/policy", data={
        "csrf_token": token, "body": "# Policy\n\nNew.", "summary": "New text.",
        "material": "on"})
    assert response.status_code == 303
    page = client.get("/admin/policy").get_data(as_text=True)
    assert "New text." in page and 'class="still-owe">0' in page
    refused = client.post("/admin/policy", data={
        "csrf_token": token, "body": "x", "summary": "y", "effective_at": "2001-01-01T00:00"})
    assert refused.status_code == 400 and "in the past" in refused.get_data(as_text=True)


def test_public_page_shows_version_in_force_history_and_escaped_diff(app, client):
    with app.app_context():
        publish(app, body="# Policy\n\nWe keep your address.\n", now=NOW)
        publish(app, body="# Policy\n\nWe keep your address and <script>x</script>.\n",
                summary="Adds a line.", now=NOW + timedelta(seconds=1))
    page = client.get("/privacy").get_data(as_text=True)
    assert "version 2" in page and "Adds a line." in page
    assert "<script>x</script>" not in page  # neither in the body nor in the diff
    assert 'class="diff-removed">- We keep your address.</span>' in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert client.get("/privacy/v/1").status_code == 200
    assert client.get("/privacy/v/99").status_code == 404
