"""Campaign lifecycle through the admin UI, the JSON API and the CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from campaign_support import NOW, add_subscribers, drain, make_list, new_campaign
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, Delivery, MailingList, OutboundMail
from newsletter.sending import campaigns, proofs

from conftest import csrf_token, deliver_queued


def _list(app, slug="news", **fields):
    with app.app_context():
        mailing_list = make_list(db.session, slug, **fields)
        return mailing_list.id


# --- admin UI ----------------------------------------------------------------------------------


def test_admin_creates_schedules_in_marketer_timezone_and_previews(app, admin_client):
    list_id = _list(app)
    token = csrf_token(admin_client, "/admin/campaigns/new")
    response = admin_client.post("/admin/campaigns/new", data={
        "csrf_token": token, "name": "June issue", "subject": "Hello {{ subscriber.name }}",
        "body": "# June\n\n<script>alert(1)</script>Hi!", "body_format": "markdown",
        "lists": [str(list_id)], "mode": "schedule", "send_at": "2030-06-01T09:00",
        "timezone": "Europe/Berlin"})
    assert response.status_code == 302
    campaign_url = response.headers["Location"]
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.status is CampaignStatus.scheduled
        assert campaign.send_at == datetime(2030, 6, 1, 7, 0, tzinfo=UTC)  # 09:00 CEST
        campaign_id = campaign.id
    page = admin_client.get(campaign_url).get_data(as_text=True)
    assert "2030-06-01 09:00 Europe/Berlin" in page
    assert '<iframe class="preview" sandbox' in page
    assert 'http-equiv="refresh"' in page  # scheduled: the page keeps itself fresh
    preview = admin_client.get(f"/admin/campaigns/{campaign_id}/preview")
    assert "default-src 'none'" in preview.headers["Content-Security-Policy"]
    html = preview.get_data(as_text=True)
    assert "reader@example.org" in html and "<script>" not in html
    listing = admin_client.get("/admin/campaigns").get_data(as_text=True)
    assert "June issue" in listing


def test_admin_refuses_a_template_error_naming_the_line(app, admin_client):
    list_id = _list(app)
    token = csrf_token(admin_client, "/admin/campaigns/new")
    response = admin_client.post("/admin/campaigns/new", data={
        "csrf_token": token, "subject": "Hi", "body": "line one\nline two\n{{ subscriber.__class__ }}",
        "body_format": "markdown", "lists": [str(list_id)], "mode": "draft", "timezone": "UTC"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "line 3" in page and "not allowed" in page
    with app.app_context():
        assert db.session.scalar(select(Campaign)) is None


def test_admin_refuses_line_breaks_in_subject(app, admin_client):
    list_id = _list(app)
    token = csrf_token(admin_client, "/admin/campaigns/new")
    response = admin_client.post("/admin/campaigns/new", data={
        "csrf_token": token, "subject": "Hi\r\nBcc: victim@example.org", "body": "x",
        "body_format": "markdown", "lists": [str(list_id)], "mode": "draft", "timezone": "UTC"})
    assert response.status_code == 400
    assert "line breaks" in response.get_data(as_text=True)


def test_admin_send_now_test_send_pause_and_watch(app, admin_client, smtp):
    list_id = _list(app)
    with app.app_context():
        news = db.session.get(MailingList, list_id)
        add_subscribers(db.session, news, 5)
        campaign = new_campaign(db.session, news)
        campaign_id = campaign.id
    url = f"/admin/campaigns/{campaign_id}"
    token = csrf_token(admin_client, url)
    response = admin_client.post(f"{url}/test", data={"csrf_token": token,
                                                      "addresses": "boss@example.org"})
    assert response.status_code == 303
    test_copy = smtp.wait_for(1)[0]
    assert test_copy.message["Subject"].startswith("[Test] Hello")
    assert admin_client.post(f"{url}/send", data={"csrf_token": token,
                                                       "confirm": "yes"}).status_code == 303
    with app.app_context():
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"],
                                         datetime.now(UTC))
    page = admin_client.get(url).get_data(as_text=True)
    assert 'id="campaign-status">sending' in page and 'http-equiv="refresh"' in page
    assert re.search(r'id="fig-queued">5<', page)
    smtp.rcpt_replies["reader0@example.net"] = "550 5.1.1 no such user"
    drain(app)
    with app.app_context():
        campaigns.finish_sent(db.session, datetime.now(UTC))
    page = admin_client.get(url).get_data(as_text=True)
    assert 'id="campaign-status">sent' in page and 'http-equiv="refresh"' not in page
    assert re.search(r'id="fig-sent">4<', page) and "5.1.1 no such user" in page
    assert '<progress class="bar" id="progress" max="5" value="5">' in page
    # A finished campaign has no send rate and no estimate left: it shows how long it took.
    assert 'id="fig-rate"' not in page and 'id="fig-eta"' not in page and 'id="fig-duration"' in page
    # A sent campaign can be neither paused nor edited.
    response = admin_client.post(f"{url}/pause", data={"csrf_token": token},
                                 follow_redirects=True)
    assert "cannot be paused" in response.get_data(as_text=True)
    response = admin_client.get(f"{url}/edit", follow_redirects=True)
    assert "cannot be edited" in response.get_data(as_text=True)


def test_campaign_pages_need_a_marketer(app, auth, client):
    from newsletter.models import Role

    auth.create(email="privacy@example.org", role=Role.privacy)
    auth.login(email="privacy@example.org")
    assert client.get("/admin/campaigns").status_code == 403


# --- API ---------------------------------------------------------------------------------------


def test_api_creates_schedules_pauses_and_reports(app, client, api_token):
    _list(app)
    response = client.post("/api/v1/campaigns", headers=api_token, json={
        "subject": "API issue", "body": "Hello {{ subscriber.name }}", "lists": ["news"]})
    assert response.status_code == 201, response.get_json()
    campaign = response.get_json()
    assert campaign["status"] == "draft" and campaign["lists"] == ["news"]
    cid = campaign["id"]
    response = client.post(f"/api/v1/campaigns/{cid}/schedule", headers=api_token,
                           json={"send_at": "2030-01-01T10:00:00+01:00"})
    assert response.status_code == 200 and response.get_json()["status"] == "scheduled"
    assert response.get_json()["send_at"].startswith("2030-01-01T09:00:00")
    assert client.post(f"/api/v1/campaigns/{cid}/pause", headers=api_token).status_code == 200
    assert client.post(f"/api/v1/campaigns/{cid}/resume", headers=api_token).get_json()[
        "status"] == "scheduled"
    stats = client.get(f"/api/v1/campaigns/{cid}/stats", headers=api_token).get_json()
    assert stats["total"] == 0 and stats["percent"] == 0
    assert client.post(f"/api/v1/campaigns/{cid}/cancel", headers=api_token).status_code == 200
    assert client.post(f"/api/v1/campaigns/{cid}/pause", headers=api_token).status_code == 409
    assert client.get("/api/v1/campaigns/999999", headers=api_token).status_code == 404
    assert client.get("/api/v1/campaigns", headers=api_token).get_json()[0]["id"] == cid


def test_api_refuses_bad_templates_naive_times_and_missing_token(app, client, api_token):
    _list(app)
    bad = client.post("/api/v1/campaigns", headers=api_token, json={
        "subject": "x", "body": "ok\n{% for %}", "lists": ["news"]})
    assert bad.status_code == 422 and "line 2" in bad.get_json()["message"]
    naive = client.post("/api/v1/campaigns", headers=api_token, json={
        "subject": "x", "body": "y", "lists": ["news"], "send_at": "2030-01-01T10:00:00"})
    assert naive.status_code == 422
    recurring = client.post("/api/v1/campaigns", headers=api_token, json={
        "subject": "x", "body": "y", "lists": ["news"], "cron": "0 9 * * 1",
        "timezone": "Europe/Berlin"})
    assert recurring.status_code == 201 and recurring.get_json()["status"] == "recurring"
    assert client.get("/api/v1/campaigns").status_code == 401
    # A one-off's timezone is checked too (a NUL in it once reached PostgreSQL: a 503).
    for zone in ("Mars/Olympus", "q\u00b1\u0000"):
        odd = client.post("/api/v1/campaigns", headers=api_token, json={
            "subject": "x", "body": "y", "lists": ["news"], "timezone": zone})
        assert odd.status_code == 422 and "unknown timezone" in odd.get_json()["message"]


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_create_send_status_pause(app, runner, smtp, tmp_path):
    list_id = _list(app)
    with app.app_context():
        add_subscribers(db.session, db.session.get(MailingList, list_id), 3)
    body = tmp_path / "issue.md"
    body.write_text("# Issue\n\nHello {{ subscriber.name }}")
    result = runner.invoke(args=["newsletter", "campaign", "create", "--list", "news",
                                 "--subject", "CLI issue", "--body-file", str(body),
                                 "--send-at", "2030-03-29T02:30", "--timezone", "Europe/Berlin"])
    assert result.exit_code == 0, result.output
    cid = int(result.output.strip().splitlines()[-1])
    with app.app_context():
        # Berlin changes clocks on 2030-03-31; on 03-29 02:30 is CET, 01:30 UTC.
        assert db.session.get(Campaign, cid).send_at == datetime(2030, 3, 29, 1, 30, tzinfo=UTC)
    result = runner.invoke(args=["newsletter", "campaign", "send", str(cid)])
    assert result.exit_code == 0, result.output
    assert "queued 3" in result.output
    drain(app)
    assert len(smtp.messages) == 3
    result = runner.invoke(args=["newsletter", "campaign", "status", str(cid)])
    assert "sent 3" in result.output
    with app.app_context():
        campaigns.finish_sent(db.session, datetime.now(UTC))
    result = runner.invoke(args=["newsletter", "campaign", "pause", str(cid)])
    assert result.exit_code != 0 and "cannot be paused" in result.output
    result = runner.invoke(args=["newsletter", "campaign", "status", "424242"])
    assert result.exit_code != 0 and "no campaign 424242" in result.output


def test_cli_refuses_bad_template_with_line(app, runner, tmp_path):
    _list(app)
    body = tmp_path / "bad.md"
    body.write_text("fine\n{{ campaign.subject.__class__.__mro__ }}")
    result = runner.invoke(args=["newsletter", "campaign", "create", "--list", "news",
                                 "--subject", "x", "--body-file", str(body)])
    assert result.exit_code != 0 and "line 2" in result.output


def test_test_send_goes_through_the_transactional_queue(app, smtp):
    _list(app)
    with app.app_context():
        news = db.session.scalar(select(MailingList))
        campaign = new_campaign(db.session, news)
        assert proofs.test_send(db.session, campaign, ["a@example.org"], app.config, NOW) == 1
        db.session.commit()
        row = db.session.scalar(select(OutboundMail))
        assert row.kind == "campaign-test" and b"[Test] Hello" in row.raw
        assert db.session.scalar(select(Delivery)) is None


def test_a_test_copys_preference_link_says_it_is_a_sample(app, client, smtp):
    _list(app)
    with app.app_context():
        campaign = new_campaign(db.session, db.session.scalar(select(MailingList)))
        proofs.test_send(db.session, campaign, ["boss@example.org"], app.config, NOW)
        db.session.commit()
    deliver_queued(app)
    text = smtp.wait_for(1)[0].message.get_body(("plain",)).get_content()
    path = re.search(r"https?://[^/\s]+(/preferences/\S+)", text).group(1)
    page = client.get(path)
    assert page.status_code == 400
    assert "This is a test copy of a newsletter" in page.get_data(as_text=True)


def test_api_refuses_nul_and_out_of_range_times(app, client, api_token):
    _list(app)
    nul = client.post("/api/v1/campaigns", headers=api_token, json={
        "subject": "x", "body": "a\u0000b", "lists": ["news"]})
    assert nul.status_code == 422 and "NUL" in nul.get_json()["message"]
    created = client.post("/api/v1/campaigns", headers=api_token, json={
        "subject": "x", "body": "y", "lists": ["news"]}).get_json()
    far = client.post(f"/api/v1/campaigns/{created['id']}/schedule", headers=api_token,
                      json={"send_at": "9999-12-31T23:59:00-14:00"})
    assert far.status_code == 409 and "out of range" in far.get_json()["message"]


def test_welcome_campaign_reaches_a_new_subscriber_once_through_the_real_flow(app, runner, smtp,
                                                                            tmp_path):
    import threading

    from newsletter.sending import process

    assert runner.invoke(args=["newsletter", "lists", "create", "club", "--name", "Club",
                               "--no-double-opt-in"]).exit_code == 0
    body = tmp_path / "welcome.md"
    body.write_text("Welcome aboard, {{ subscriber.name }}!")
    created = runner.invoke(args=["newsletter", "campaign", "create", "--list", "club",
                                  "--subject", "Welcome to {{ list.name }}", "--body-file",
                                  str(body)])
    cid = created.output.strip().splitlines()[-1]
    assert runner.invoke(args=["newsletter", "campaign", "welcome", cid, "--list",
                               "club"]).exit_code == 0
    result = runner.invoke(args=["newsletter", "subscribe", "neo@example.org", "--list", "club",
                                 "--name", "Neo"])
    assert result.exit_code == 0, result.output
    process.run_worker(app, threading.Event(), once=True)
    welcome = [m for m in smtp.to("neo@example.org") if m.message["Subject"] == "Welcome to Club"]
    assert len(welcome) == 1
    assert "Welcome aboard, Neo!" in welcome[0].message.get_body(("plain",)).get_content()
    assert welcome[0].message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Subscribing again (already confirmed) does not send it twice.
    runner.invoke(args=["newsletter", "subscribe", "neo@example.org", "--list", "club"])
    process.run_worker(app, threading.Event(), once=True)
    assert len([m for m in smtp.to("neo@example.org")
                if m.message["Subject"] == "Welcome to Club"]) == 1


def test_admin_reschedules_and_changes_a_series_cron(app, admin_client):
    list_id = _list(app)
    with app.app_context():
        news = db.session.get(MailingList, list_id)
        one_off = new_campaign(db.session, news)
        campaigns.schedule(one_off, datetime(2030, 1, 1, 9, tzinfo=UTC), NOW)
        series = new_campaign(db.session, news, cron="0 9 * * 1", timezone="UTC")
        db.session.commit()
        one_off_id, series_id = one_off.id, series.id
    token = csrf_token(admin_client, f"/admin/campaigns/{one_off_id}")
    response = admin_client.post(f"/admin/campaigns/{one_off_id}/schedule", data={
        "csrf_token": token, "send_at": "2030-02-01T08:30", "timezone": "America/New_York"})
    assert response.status_code == 303
    response = admin_client.post(f"/admin/campaigns/{series_id}/edit", data={
        "csrf_token": token, "subject": "Weekly", "body": "Hi", "body_format": "markdown",
        "lists": [str(list_id)], "cron": "30 7 * * 5", "timezone": "Europe/Berlin"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Campaign, one_off_id).send_at == datetime(2030, 2, 1, 13, 30,
                                                                        tzinfo=UTC)
        series = db.session.get(Campaign, series_id)
        assert (series.cron, series.timezone) == ("30 7 * * 5", "Europe/Berlin")
        berlin = series.next_occurrence_at.astimezone(ZoneInfo("Europe/Berlin"))
        assert berlin.strftime("%a %H:%M") == "Fri 07:30"


def test_a_series_describes_its_cron_in_words_and_drops_next_once_cancelled(app, admin_client):
    with app.app_context():
        series = new_campaign(db.session, make_list(db.session, "news"), cron="0 9 * * 1",
                              timezone="Europe/Berlin")
        db.session.commit()
        url = f"/admin/campaigns/{series.id}"
    page = admin_client.get(url).get_data(as_text=True)
    assert "Repeats at 09:00, only on Monday (Europe/Berlin time" in page
    assert 'id="next-occurrence"' in page
    # Also on the reader's own clock (an admin in UTC by default): 09:00 in Berlin is 07:00 or
    # 08:00 UTC, depending on the season.
    assert re.search(r'id="next-occurrence">\S+ 09:00 Europe/Berlin \(\S+ 0[78]:00 your time, UTC\)',
                     page), page
    token = csrf_token(admin_client, url)
    admin_client.post(f"{url}/cancel", data={"csrf_token": token, "confirm": "yes"})
    page = admin_client.get(url).get_data(as_text=True)
    assert 'id="campaign-status">cancelled' in page
    assert "Repeated at 09:00, only on Monday" in page and "next:" not in page


# --- marketers' mistakes ---------------------------------------------------------------------------


def _no_campaign_is_scheduled(app) -> None:
    with app.app_context():
        assert db.session.scalar(select(Campaign).where(
            Campaign.status != CampaignStatus.draft)) is None
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"],
                                         datetime.now(UTC))
        assert db.session.scalar(select(Delivery)) is None


def test_a_send_time_in_the_past_is_refused_in_the_ui_showing_the_current_time(app, admin_client):
    list_id = _list(app)
    with app.app_context():
        add_subscribers(db.session, db.session.get(MailingList, list_id), 3)
    token = csrf_token(admin_client, "/admin/campaigns/new")
    response = admin_client.post("/admin/campaigns/new", data={
        "csrf_token": token, "subject": "Hi", "body": "Hello", "lists": [str(list_id)],
        "mode": "schedule", "send_at": "2020-01-01T00:00", "timezone": "Europe/Berlin"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    now = datetime.now(ZoneInfo("Europe/Berlin"))
    assert "the send time 2020-01-01 00:00 Europe/Berlin is in the past" in page
    assert f"it is now {now:%Y-%m-%d %H:}" in page
    with app.app_context():
        draft_id = new_campaign(db.session, db.session.get(MailingList, list_id)).id
    response = admin_client.post(f"/admin/campaigns/{draft_id}/schedule", follow_redirects=True,
                                 data={"csrf_token": token, "send_at": "2020-01-01T00:00",
                                       "timezone": "UTC"})
    assert "the send time 2020-01-01 00:00 UTC is in the past" in response.get_data(as_text=True)
    _no_campaign_is_scheduled(app)


def test_a_send_time_in_the_past_is_refused_by_the_api_and_the_cli(app, client, api_token,
                                                                   runner, tmp_path):
    list_id = _list(app)
    with app.app_context():
        add_subscribers(db.session, db.session.get(MailingList, list_id), 3)
        draft_id = new_campaign(db.session, db.session.get(MailingList, list_id)).id
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    created = client.post("/api/v1/campaigns", headers=api_token, json={
        "subject": "x", "body": "y", "lists": ["news"], "send_at": "2020-01-01T00:00:00+00:00"})
    assert created.status_code == 422
    assert f"is in the past (it is now {today}" in created.get_json()["message"]
    moved = client.post(f"/api/v1/campaigns/{draft_id}/schedule", headers=api_token,
                        json={"send_at": "2020-01-01T00:00:00Z"})
    assert moved.status_code == 409 and "2020-01-01 00:00 UTC is in the past" in moved.get_json()[
        "message"]
    body = tmp_path / "body.md"
    body.write_text("Hello")
    result = runner.invoke(args=["newsletter", "campaign", "create", "--list", "news", "--subject",
                                 "x", "--body-file", str(body), "--send-at", "2020-01-01"])
    assert result.exit_code != 0 and f"it is now {today}" in result.output
    _no_campaign_is_scheduled(app)


def test_a_send_time_a_moment_ago_means_now(app):
    list_id = _list(app)
    with app.app_context():
        campaign = new_campaign(db.session, db.session.get(MailingList, list_id))
        campaigns.schedule(campaign, NOW - campaigns.PAST_SEND_AT_GRACE, NOW)
        assert campaign.send_at == NOW and campaign.status is CampaignStatus.scheduled


def test_send_now_and_cancel_need_the_confirmation_box(app, admin_client):
    list_id = _list(app)
    with app.app_context():
        campaign_id = new_campaign(db.session, db.session.get(MailingList, list_id)).id
    url = f"/admin/campaigns/{campaign_id}"
    page = admin_client.get(url).get_data(as_text=True)
    assert page.count('<input type="checkbox" name="confirm" value="yes" required>') == 2
    token = csrf_token(admin_client, url)

    def status() -> CampaignStatus:
        with app.app_context():
            return db.session.get(Campaign, campaign_id).status

    for action, after in (("send", CampaignStatus.scheduled), ("cancel", CampaignStatus.cancelled)):
        before = status()
        unconfirmed = admin_client.post(f"{url}/{action}", data={"csrf_token": token},
                                        follow_redirects=True)
        assert "tick the box to confirm" in unconfirmed.get_data(as_text=True)
        assert status() is before
        assert admin_client.post(f"{url}/{action}", data={"csrf_token": token, "confirm": "yes"}
                                 ).status_code == 303
        assert status() is after


@pytest.mark.parametrize("addresses", ["not an email", "boss@example.org, nobody", "a@b@c"])
def test_test_send_refuses_what_is_not_an_address(app, admin_client, runner, smtp, addresses):
    list_id = _list(app)
    with app.app_context():
        campaign_id = new_campaign(db.session, db.session.get(MailingList, list_id)).id
    url = f"/admin/campaigns/{campaign_id}"
    response = admin_client.post(f"{url}/test", follow_redirects=True, data={
        "csrf_token": csrf_token(admin_client, url), "addresses": addresses})
    assert "is not an email address" in response.get_data(as_text=True)
    result = runner.invoke(args=["newsletter", "campaign", "test", str(campaign_id),
                                 *[a for part in addresses.split(",") for a in ("--to", part)]])
    assert result.exit_code != 0 and "is not an email address" in result.output
    with app.app_context():
        assert db.session.scalar(select(OutboundMail)) is None
    assert smtp.messages == []


def test_the_footer_links_the_archive_only_when_the_list_has_one(app, admin_client, smtp):
    with app.app_context():
        ids = {slug: new_campaign(db.session, make_list(db.session, slug, name=slug.title(),
                                                        archive=slug == "open", public=True)).id
               for slug in ("closed", "open")}
    html = {}
    for slug, campaign_id in ids.items():
        url = f"/admin/campaigns/{campaign_id}"
        assert admin_client.post(f"{url}/test", data={"csrf_token": csrf_token(admin_client, url),
                                                      "addresses": "boss@example.org"}
                                 ).status_code == 303
        received = smtp.wait_for(len(html) + 1)[-1]
        html[slug] = received.message.get_body(("html",)).get_content()
    assert "/archive/" not in html["closed"] and ">Archive<" not in html["closed"]
    assert '<a href="http://newsletter.test/archive/open" style="color: #6b7280;">Archive</a>' in html[
        "open"]
    # The link leads somewhere; a list without an archive has no page to link.
    assert admin_client.get("/archive/open").status_code == 200
    assert admin_client.get("/archive/closed").status_code == 404


def test_admin_refuses_a_runaway_template_within_seconds_naming_the_limit(app, admin_client):
    import time

    list_id = _list(app)
    token = csrf_token(admin_client, "/admin/campaigns/new")
    started = time.monotonic()
    response = admin_client.post("/admin/campaigns/new", data={
        "csrf_token": token, "subject": "Hi", "body": "Big:\n{{ 'x' * 10**9 }}",
        "body_format": "markdown", "lists": [str(list_id)], "mode": "draft", "timezone": "UTC"})
    assert time.monotonic() - started < 5
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "line 2" in page and "NEWSLETTER_TEMPLATE_MAX_BYTES" in page
    with app.app_context():
        assert db.session.scalar(select(Campaign)) is None


def test_save_renders_for_real_subscribers_of_the_lists_and_names_the_one_it_fails_for(app):
    with app.app_context():
        news = make_list(db.session)
        add_subscribers(db.session, news, 3)  # attributes {"n": 0}, {"n": 1}, {"n": 2}
        body = ("Share:\n{% if subscriber.attributes.n is defined %}"
                "{{ 100 // subscriber.attributes.n }}{% endif %}")
        try:
            campaigns.create(db.session, subject="S", body=body, list_ids=[news.id], now=NOW)
        except campaigns.CampaignError as exc:
            refusal = str(exc)
        else:
            refusal = ""
        assert "line 2" in refusal and "for subscriber reader0@example.net" in refusal
        # edit() runs the same check.
        draft = campaigns.create(db.session, subject="S", body="fine", list_ids=[news.id], now=NOW)
        try:
            campaigns.edit(db.session, draft, subject="S", body=body, body_format="markdown",
                           list_ids=[news.id])
        except campaigns.CampaignError as exc:
            assert "reader0@example.net" in str(exc)
        else:
            raise AssertionError("edit saved a template that fails for a subscriber")
