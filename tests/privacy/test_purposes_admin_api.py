"""Purposes through the admin UI (privacy role) and the JSON API (documented in the OpenAPI
document); a campaign for a purpose through both."""

from __future__ import annotations

from campaign_support import add_subscribers, make_list
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import Campaign, OutboundMail, Purpose, Role

from conftest import csrf_token


def test_admin_creates_and_announces_a_purpose_with_the_privacy_role(app, client, auth):
    with app.app_context():
        add_subscribers(db.session, make_list(db.session), 2)
    auth.create(email="m@example.org", role=Role.marketer)
    auth.login(email="m@example.org")
    assert client.get("/admin/purposes").status_code == 403
    auth.logout()
    auth.create(email="p@example.org", role=Role.privacy)
    auth.login(email="p@example.org")
    token = csrf_token(client, "/admin/purposes")
    form = {"csrf_token": token, "slug": "tips", "name": "Product tips",
            "description": "Tips about products you bought.", "opt_in_countries": "DE"}
    assert client.post("/admin/purposes", data=form).status_code == 303
    again = client.post("/admin/purposes", data=form)
    assert again.status_code == 400 and "exists already" in again.get_data(as_text=True)
    with app.app_context():
        purpose_id = db.session.scalar(select(Purpose.id))
    unconfirmed = client.post(f"/admin/purposes/{purpose_id}/announce",
                              data={"csrf_token": token, "confirm": "nope"})
    assert unconfirmed.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count(OutboundMail.id))) == 0
    for _ in range(2):
        done = client.post(f"/admin/purposes/{purpose_id}/announce",
                           data={"csrf_token": token, "confirm": "tips"})
        assert done.status_code == 303
    page = client.get("/admin/purposes").get_data(as_text=True)
    # Country unknown for both: both asked to opt in, once.
    assert 'class="told-opt-in">2' in page and 'class="consenting">0' in page
    with app.app_context():
        assert db.session.scalar(select(func.count(OutboundMail.id))) == 2


def test_admin_campaign_form_offers_the_purpose(app, admin_client):
    with app.app_context():
        news = make_list(db.session)
        news_id = news.id
        db.session.add(Purpose(slug="tips", name="Product tips", description="Tips.",
                               opt_in_countries=[]))
        db.session.commit()
        purpose_id = db.session.scalar(select(Purpose.id))
    page = admin_client.get("/admin/campaigns/new").get_data(as_text=True)
    assert 'name="purpose"' in page and "Product tips (tips)" in page
    response = admin_client.post("/admin/campaigns/new", data={
        "csrf_token": csrf_token(admin_client, "/admin/campaigns/new"), "subject": "Tips",
        "body": "Hello", "body_format": "markdown", "lists": str(news_id), "mode": "draft",
        "purpose": str(purpose_id)})
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Campaign.purpose_id)) == purpose_id


def test_api_creates_lists_announces_and_campaigns_for_a_purpose(app, client, api_token):
    with app.app_context():
        add_subscribers(db.session, make_list(db.session), 1)
    created = client.post("/api/v1/purposes", headers=api_token, json={
        "slug": "partners", "name": "Sharing with partners", "description": "Partners.",
        "opt_in_countries": ["de", "FR"]})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["opt_in_countries"] == ["DE", "FR"]
    duplicate = client.post("/api/v1/purposes", headers=api_token, json={
        "slug": "partners", "name": "X", "description": "Y"})
    assert duplicate.status_code == 422 and "exists already" in duplicate.get_json()["message"]
    bad = client.post("/api/v1/purposes", headers=api_token, json={
        "slug": "other", "name": "X", "description": "Y", "opt_in_countries": ["XX"]})
    assert bad.status_code == 422 and "'XX'" in bad.get_json()["message"]
    first = client.post("/api/v1/purposes/partners/announce", headers=api_token)
    second = client.post("/api/v1/purposes/partners/announce", headers=api_token)
    assert (first.get_json(), second.get_json()) == ({"queued": 1, "remaining": 0},
                                                      {"queued": 0, "remaining": 0})
    listed = client.get("/api/v1/purposes", headers=api_token).get_json()
    assert [p["slug"] for p in listed] == ["partners"]
    assert listed[0]["counts"] == {"opt-in": 1, "opt-out": 0, "consenting": 0}
    assert client.get("/api/v1/purposes/nope", headers=api_token).status_code == 404
    assert client.get("/api/v1/purposes").status_code == 401
    campaign = client.post("/api/v1/campaigns", headers=api_token, json={
        "subject": "Offers", "body": "Hello", "lists": ["news"], "purpose": "partners"})
    assert campaign.status_code == 201, campaign.get_json()
    assert campaign.get_json()["purpose"] == "partners"
    unknown = client.post("/api/v1/campaigns", headers=api_token, json={
        "subject": "Offers", "body": "Hello", "lists": ["news"], "purpose": "nope"})
    assert unknown.status_code == 422 and "no purpose" in unknown.get_json()["message"]
    spec = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/purposes", "/api/v1/purposes/{slug}",
            "/api/v1/purposes/{slug}/announce"} <= set(spec["paths"])
    assert "purpose" in spec["components"]["schemas"]["CampaignCreate"]["properties"]


def test_an_announce_past_its_budget_answers_and_the_scheduler_tells_the_rest(
        app, client, api_token, monkeypatch):
    from newsletter.privacy import purposes
    from newsletter.scheduler import tell_purpose_newcomers

    with app.app_context():
        add_subscribers(db.session, make_list(db.session), 5)
    monkeypatch.setattr(purposes, "ANNOUNCE_BATCH", 2)
    app.config["NEWSLETTER_ANNOUNCE_REQUEST_SECONDS"] = 0  # one batch, then answer
    assert client.post("/api/v1/purposes", headers=api_token, json={
        "slug": "partners", "name": "Partners", "description": "Partners."}).status_code == 201
    first = client.post("/api/v1/purposes/partners/announce", headers=api_token)
    assert first.get_json() == {"queued": 2, "remaining": 3}
    with app.app_context():
        tell_purpose_newcomers(app)
        tell_purpose_newcomers(app)  # nobody twice
        recipients = list(db.session.scalars(select(OutboundMail.to_address)))
    assert sorted(recipients) == [f"reader{i}@example.net" for i in range(5)]
    assert client.post("/api/v1/purposes/partners/announce", headers=api_token).get_json() == {
        "queued": 0, "remaining": 0}
