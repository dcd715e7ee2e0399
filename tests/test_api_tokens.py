"""API tokens: checked before the body, a role and an expiry each, managed from the CLI and the
admin UI (newsletter/api_tokens.py, newsletter/web/api/__init__.py, newsletter/cli/admin_tools.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter import api_tokens
from newsletter.extensions import db
from newsletter.models import ApiToken, InboundMessage, MailingList, Role, Suppression, utcnow
from newsletter.subscribers import suppression


def make_token(app, role: Role, expires_in: timedelta | None = None) -> dict:
    """A token row written directly (so an already expired one can be made too)."""
    import secrets

    token = secrets.token_urlsafe(24)
    with app.app_context():
        db.session.add(ApiToken(name=f"{role.value} tests", token_hash=api_tokens.hash_token(token),
                                role=role,
                                expires_at=utcnow() + expires_in if expires_in is not None else None))
        db.session.commit()
    return {"Authorization": f"Bearer {token}"}


# Each takes a JSON body; {"bogus": 1} is invalid for every one of them.
WRITES = ["/lists", "/subscribers", "/suppressions", "/suppressions/check", "/suppressions/lift",
          "/campaigns", "/campaigns/1/schedule", "/inbound/1/reclassify", "/privacy-requests",
          "/subscribers/1/unsubscribe"]


@pytest.mark.parametrize("path", WRITES)
def test_the_token_is_checked_before_the_body(app, client, path):
    url = f"/api/v1{path}"
    assert client.post(url, json={"bogus": 1}).status_code == 401
    assert client.post(url, json={"bogus": 1},
                       headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert client.post(url, json={"bogus": 1}, headers=make_token(app, Role.admin)).status_code == 422


def test_a_marketer_token_cannot_read_raw_mail_or_lift_a_suppression(app, client):
    marketer, privacy = make_token(app, Role.marketer), make_token(app, Role.privacy)
    key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
    with app.app_context():
        db.session.add(InboundMessage(message_key="<a@x>", verdict="reply", raw=b"Subject: mine\r\n\r\nhi"))
        suppression.suppress(db.session, key, "gone@example.org",
                             suppression.SuppressionReason.complaint, utcnow())
        db.session.commit()
        item_id = db.session.scalar(select(InboundMessage.id))
    assert client.get(f"/api/v1/inbound/{item_id}", headers=marketer).status_code == 200
    assert client.get(f"/api/v1/inbound/{item_id}/raw", headers=marketer).status_code == 403
    lift = {"email": "gone@example.org", "reason": "asked again"}
    assert client.post("/api/v1/suppressions/lift", headers=marketer, json=lift).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count(Suppression.id))) == 1
    # The privacy officer may do both.
    raw = client.get(f"/api/v1/inbound/{item_id}/raw", headers=privacy)
    assert raw.status_code == 200 and raw.data.startswith(b"Subject: mine")
    assert client.post("/api/v1/suppressions/lift", headers=privacy, json=lift).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count(Suppression.id))) == 0


def test_a_read_only_token_reads_but_cannot_write(app, client):
    reader = make_token(app, Role.read_only)
    assert client.get("/api/v1/lists", headers=reader).status_code == 200
    response = client.post("/api/v1/lists", headers=reader, json={"slug": "news", "name": "News"})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count(MailingList.id))) == 0


def test_a_privacy_token_cannot_write_campaigns_and_a_marketer_cannot_see_privacy_requests(app, client):
    assert client.post("/api/v1/campaigns", headers=make_token(app, Role.privacy),
                       json={"bogus": 1}).status_code == 403
    assert client.get("/api/v1/privacy-requests",
                      headers=make_token(app, Role.marketer)).status_code == 403


def test_an_expired_token_is_refused(app, client):
    assert client.get("/api/v1/lists", headers=make_token(app, Role.admin, timedelta(minutes=5))
                      ).status_code == 200
    assert client.get("/api/v1/lists", headers=make_token(app, Role.admin, timedelta(seconds=-1))
                      ).status_code == 401


def test_cli_creates_lists_and_revokes_tokens_with_a_role_and_an_expiry(app, client, runner):
    result = runner.invoke(args=["newsletter", "api-token", "create", "crm", "--role", "marketer",
                                 "--days", "7"])
    assert result.exit_code == 0, result.output
    token = result.output.split("token (shown once): ")[1].split()[0]
    token_id = int(result.output.strip().splitlines()[-1])
    with app.app_context():
        row = db.session.get(ApiToken, token_id)
        assert row.role is Role.marketer
        assert abs(row.expires_at - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)
    header = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/lists", headers=header).status_code == 200
    assert client.post("/api/v1/suppressions/lift", headers=header,
                       json={"email": "a@example.org", "reason": "x"}).status_code == 403

    listing = runner.invoke(args=["newsletter", "api-token", "list"])
    assert listing.exit_code == 0
    assert listing.output.startswith(f"{token_id}\tcrm\tmarketer\tlive\texpires ")
    assert token not in listing.output

    revoked = runner.invoke(args=["newsletter", "api-token", "revoke", str(token_id)])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert client.get("/api/v1/lists", headers=header).status_code == 401
    assert "\trevoked\t" in runner.invoke(args=["newsletter", "api-token", "list"]).output
    assert runner.invoke(args=["newsletter", "api-token", "revoke", "999"]).exit_code != 0


@pytest.mark.parametrize("args", [["--expires", "2020-01-01"], ["--days", "0"],
                                  ["--days", "3", "--expires", "2099-01-01"], ["--role", "root"]])
def test_cli_refuses_a_token_that_would_be_dead_or_ambiguous(app, runner, args):
    result = runner.invoke(args=["newsletter", "api-token", "create", "x", *args])
    assert result.exit_code != 0
    with app.app_context():
        assert db.session.scalar(select(func.count(ApiToken.id))) == 0


def test_cli_expiry_in_the_past_names_the_current_time(runner):
    result = runner.invoke(args=["newsletter", "api-token", "create", "x", "--expires", "2020-01-01"])
    assert "2020-01-01 00:00 UTC is not in the future" in result.output
    assert f"it is now {utcnow():%Y-%m-%d}" in result.output


def test_admin_ui_creates_a_token_with_role_and_expiry_and_shows_them(app, admin_client):
    from conftest import csrf_token

    token = csrf_token(admin_client, "/admin/api-tokens")
    page = admin_client.post("/admin/api-tokens", data={
        "csrf_token": token, "name": "dpo", "role": "privacy", "days": "30"}).get_data(as_text=True)
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row.role is Role.privacy
        expected = f"{row.expires_at:%Y-%m-%d %H:%M} UTC"
    assert '<td class="token-role">privacy</td>' in page
    assert f'<td class="token-expires">{expected}</td>' in page
