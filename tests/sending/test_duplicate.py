"""Duplicating a campaign through the admin button, the API and the CLI: a new draft with the
same subject, body, format, lists, segment and purpose, whatever state the original is in."""

from __future__ import annotations

from campaign_support import NOW, make_list, new_campaign
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus
from newsletter.privacy import purposes
from newsletter.subscribers import segments

from conftest import csrf_token


def _original(app) -> int:
    with app.app_context():
        news = make_list(db.session, "news")
        make_list(db.session, "other", name="Other")
        segment = segments.create(db.session, "pros", news,
                                  [segments.parse_filter("attributes.plan=pro")],
                                  actor="test", now=NOW)
        purpose = purposes.create(db.session, slug="offers", name="Offers",
                                  description="Offers from partners", now=NOW,
                                  config=app.config, actor="test")
        campaign = new_campaign(db.session, news, subject="Issue {{ subscriber.name }}",
                                body="<p>Hi</p>", body_format="html", name="June issue",
                                purpose_id=purpose.id, segment_id=segment.id)
        campaign.status = CampaignStatus.sent  # sent already: a copy is still a fresh draft
        db.session.commit()
        return campaign.id


def _same_content(app, original_id: int, copy_id: int) -> Campaign:
    with app.app_context():
        original, copy = db.session.get(Campaign, original_id), db.session.get(Campaign, copy_id)
        assert copy.id != original.id and copy.status is CampaignStatus.draft
        for field in ("subject", "body", "body_format", "segment_id", "purpose_id"):
            assert getattr(copy, field) == getattr(original, field), field
        assert [m.slug for m in copy.lists] == ["news"]
        assert copy.name == "Copy of June issue"
        assert copy.send_at is None and copy.started_at is None
        return copy


def test_duplicate_from_the_admin_page(app, admin_client):
    original = _original(app)
    token = csrf_token(admin_client, f"/admin/campaigns/{original}")
    assert 'id="duplicate"' in admin_client.get(f"/admin/campaigns/{original}").get_data(True)
    response = admin_client.post(f"/admin/campaigns/{original}/duplicate",
                                 data={"csrf_token": token})
    assert response.status_code == 303
    with app.app_context():
        copy_id = db.session.scalar(select(func.max(Campaign.id)))
    assert response.headers["Location"].endswith(f"/admin/campaigns/{copy_id}")
    _same_content(app, original, copy_id)
    # Without the CSRF token nothing is copied.
    assert admin_client.post(f"/admin/campaigns/{original}/duplicate").status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.max(Campaign.id))) == copy_id


def test_duplicate_through_the_api(app, client, api_token):
    original = _original(app)
    response = client.post(f"/api/v1/campaigns/{original}/duplicate", headers=api_token)
    assert response.status_code == 201
    body = response.get_json()
    assert (body["status"], body["lists"], body["purpose"]) == ("draft", ["news"], "offers")
    _same_content(app, original, body["id"])
    assert client.post("/api/v1/campaigns/9999/duplicate", headers=api_token).status_code == 404


def test_duplicate_from_the_cli(app, runner):
    original = _original(app)
    result = runner.invoke(args=["newsletter", "campaign", "duplicate", str(original)])
    assert result.exit_code == 0, result.output
    _same_content(app, original, int(result.output.strip().splitlines()[-1]))
    missing = runner.invoke(args=["newsletter", "campaign", "duplicate", "9999"])
    assert missing.exit_code != 0 and "no campaign 9999" in missing.output

