"""Admin users over HTTP and the CLI: invite, reset, roles, deactivation, own password,
sessions, the second factor and the rule that requires it. Mail is read from the SMTP server."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import AdminSession, AdminUser, AuditEvent, OutboundMail, Role
from users.support import code, link_in

from conftest import csrf_token, deliver_queued


def _post(client, url, data, page="/admin/users"):
    return client.post(url, data={"csrf_token": csrf_token(client, page), **data})


def _path(link: str) -> str:
    return urlsplit(link).path


def _user(app, email):
    with app.app_context():
        user = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
        db.session.expunge(user)
        return user


def _actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _set_password(client, link, password="a long new password"):
    return client.post(_path(link), data={"csrf_token": csrf_token(client, _path(link)),
                                          "password": password, "repeat": password})


def test_invited_user_sets_a_password_once_and_logs_in(app, admin_client, smtp, auth):
    response = _post(admin_client, "/admin/users/invite", {"email": "Bea@Example.org", "role": "privacy"})
    assert response.status_code == 302
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == ["bea@example.org"]
    link = link_in(mail)
    assert "/invite/" in link

    fresh = app.test_client()
    assert _set_password(fresh, link).status_code == 302
    # The link is spent once a password is set with it.
    assert fresh.get(_path(link)).status_code == 400
    auth.logout()
    assert auth.login(email="bea@example.org", password="a long new password").status_code == 302
    assert _user(app, "bea@example.org").role is Role.privacy
    assert {"user.invite", "user.invite-accept", "user.login"} <= set(_actions(app))


def test_an_invitation_link_for_another_purpose_is_refused(app, admin_client, smtp):
    _post(admin_client, "/admin/users/invite", {"email": "bea@example.org", "role": "marketer"})
    token = link_in(smtp.wait_for(1)[0]).rsplit("/", 1)[1]
    assert app.test_client().get(f"/password/reset/{token}").status_code == 400


def test_invite_errors_are_shown_next_to_the_field(admin_client, smtp):
    response = _post(admin_client, "/admin/users/invite", {"email": "", "role": "marketer"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(r'id="invite-email-error">Enter the email address of the person to invite', page)
    assert smtp.messages == []


def test_password_reset_answers_alike_and_mails_only_a_known_address(app, client, auth, smtp):
    auth.create()

    def ask(email):
        page = client.post("/password/forgot", data={
            "csrf_token": csrf_token(client, "/password/forgot"), "email": email})
        assert page.status_code == 200
        return page.get_data(as_text=True).replace(email, "ADDRESS")

    assert ask("admin@example.org") == ask("nobody@example.org")
    # Nothing left the request: the mail waits in the queue for the worker.
    assert smtp.messages == []
    with app.app_context():
        assert db.session.scalars(select(OutboundMail.to_address)).all() == ["admin@example.org"]
    deliver_queued(app)
    [mail] = smtp.wait_for(1)
    link = link_in(mail)
    assert _set_password(client, link, "another good password").status_code == 302
    assert auth.login(password="correct horse battery").status_code == 401
    assert auth.login(password="another good password").status_code == 302
    assert client.get(_path(link)).status_code == 400


def test_a_reset_password_must_be_typed_twice_alike(app, client, auth, smtp):
    auth.create()
    client.post("/password/forgot", data={"csrf_token": csrf_token(client, "/password/forgot"),
                                          "email": "admin@example.org"})
    deliver_queued(app)
    link = link_in(smtp.wait_for(1)[0])
    response = client.post(_path(link), data={"csrf_token": csrf_token(client, _path(link)),
                                              "password": "a long new password", "repeat": "other"})
    assert response.status_code == 400
    assert 'id="repeat-error">The two passwords are not the same.' in response.get_data(as_text=True)
    assert auth.login().status_code == 302  # the old password still works


def test_deactivation_ends_the_users_sessions_at_once(app, admin_client, auth):
    marketer = auth.create(email="m@example.org", role=Role.marketer)
    other = app.test_client()
    token = csrf_token(other, "/login")
    other.post("/login", data={"email": "m@example.org", "password": "correct horse battery",
                               "csrf_token": token})
    assert other.get("/admin/").status_code == 200
    assert _post(admin_client, f"/admin/users/{marketer.id}/deactivate", {}).status_code == 302
    assert other.get("/admin/").status_code == 302
    assert other.post("/login", data={"email": "m@example.org", "password": "correct horse battery",
                                      "csrf_token": token}).status_code == 401
    _post(admin_client, f"/admin/users/{marketer.id}/reactivate", {})
    # Reactivation does not revive the old session: a new login is needed.
    assert other.get("/admin/").status_code == 302
    assert other.post("/login", data={"email": "m@example.org", "password": "correct horse battery",
                                      "csrf_token": token}).status_code == 302
    assert {"user.deactivate", "user.reactivate"} <= set(_actions(app))


def test_a_role_change_is_audited_and_the_last_admin_stays(app, admin_client, auth):
    marketer = auth.create(email="m@example.org", role=Role.marketer)
    _post(admin_client, f"/admin/users/{marketer.id}/role", {"role": "privacy"})
    assert _user(app, "m@example.org").role is Role.privacy
    me = _user(app, "admin@example.org")
    response = _post(admin_client, f"/admin/users/{me.id}/role", {"role": "marketer"})
    assert response.status_code == 302
    assert _user(app, "admin@example.org").role is Role.admin
    with app.app_context():
        row = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.role"))
        assert row.detail == {"from": "marketer", "to": "privacy"}


def test_a_marketer_cannot_manage_users(app, client, auth):
    auth.create(email="m@example.org", role=Role.marketer)
    auth.login(email="m@example.org")
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/account").status_code == 200


def test_own_password_change_keeps_this_session_and_ends_the_others(app, admin_client, auth):
    other = app.test_client()
    other.post("/login", data={"email": "admin@example.org", "password": "correct horse battery",
                               "csrf_token": csrf_token(other, "/login")})
    wrong = _post(admin_client, "/admin/account/password", {
        "current": "not it", "password": "a long new password", "repeat": "a long new password"},
        page="/admin/account")
    assert wrong.status_code == 400
    assert 'id="current-error">That is not your current password.' in wrong.get_data(as_text=True)
    assert other.get("/admin/").status_code == 200
    done = _post(admin_client, "/admin/account/password", {
        "current": "correct horse battery", "password": "a long new password",
        "repeat": "a long new password"}, page="/admin/account")
    assert done.status_code == 302
    assert admin_client.get("/admin/account").status_code == 200
    assert other.get("/admin/").status_code == 302
    assert "user.password-change" in _actions(app)


def test_a_user_sees_and_ends_their_own_sessions(app, admin_client, auth):
    other = app.test_client()
    other.environ_base["HTTP_USER_AGENT"] = "OtherBrowser/1.0"
    other.post("/login", data={"email": "admin@example.org", "password": "correct horse battery",
                               "csrf_token": csrf_token(other, "/login")})
    assert other.get("/admin/").status_code == 200
    page = admin_client.get("/admin/account").get_data(as_text=True)
    assert "OtherBrowser/1.0" in page and "this browser" in page
    with app.app_context():
        other_id = db.session.scalar(select(AdminSession.id).where(
            AdminSession.user_agent == "OtherBrowser/1.0"))
    _post(admin_client, f"/admin/account/sessions/{other_id}/end", {}, page="/admin/account")
    assert other.get("/admin/").status_code == 302
    assert admin_client.get("/admin/").status_code == 200
    assert "user.session-end" in _actions(app)


def _enrol(client) -> str:
    page = _post(client, "/admin/account/2fa/begin", {}, page="/admin/account").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    done = _post(client, "/admin/account/2fa/confirm", {"code": code(secret)}, page="/admin/account")
    assert done.status_code == 200
    codes = re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def test_login_with_a_second_factor_needs_a_fresh_code(app, admin_client, auth):
    secret, _codes = _enrol(admin_client)
    auth.logout()
    response = auth.login()
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code")
    assert admin_client.get("/admin/").status_code == 302  # the password alone is not a login

    def send(value):
        return admin_client.post("/login/code", data={
            "csrf_token": csrf_token(admin_client, "/login/code"), "code": value})

    assert send("000000").status_code == 401
    assert send(code(secret, 1)).status_code == 302
    assert admin_client.get("/admin/").status_code == 200
    # The same code a second time (replayed) does not log in.
    auth.logout()
    auth.login()
    assert send(code(secret, 1)).status_code == 401


def test_a_recovery_code_works_once(app, admin_client, auth):
    _secret, codes = _enrol(admin_client)
    for expected in (302, 401):
        auth.logout() if expected == 302 else None
        auth.login()
        response = admin_client.post("/login/code", data={
            "csrf_token": csrf_token(admin_client, "/login/code"), "code": codes[0].upper()})
        assert response.status_code == expected
        if expected == 302:
            auth.logout()
    assert "user.recovery-code-used" in _actions(app)


def test_required_second_factor_sends_users_to_set_it_up(app, admin_client, auth):
    _post(admin_client, "/admin/users/require-2fa", {"on": "1"})
    response = admin_client.get("/admin/campaigns")
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/account")
    page = admin_client.get("/admin/account").get_data(as_text=True)
    assert 'id="two-factor-required"' in page
    _enrol(admin_client)
    assert admin_client.get("/admin/campaigns").status_code == 200
    assert "settings.require-2fa" in _actions(app)


def test_cli_invites_lists_and_deactivates(app, runner, smtp, auth):
    auth.create()
    result = runner.invoke(args=["newsletter", "users", "invite", "cli@example.org", "--role", "marketer"])
    assert result.exit_code == 0, result.output
    assert smtp.wait_for(1)[0].rcpt_tos == ["cli@example.org"]
    listing = runner.invoke(args=["newsletter", "users", "list"]).output
    assert "cli@example.org\tmarketer\tinvited" in listing
    assert "admin@example.org\tadmin\tactive" in listing
    result = runner.invoke(args=["newsletter", "users", "deactivate", "cli@example.org"])
    assert result.exit_code == 0 and "deactivated cli@example.org" in result.output
    result = runner.invoke(args=["newsletter", "users", "deactivate", "admin@example.org"])
    assert result.exit_code != 0 and "last active admin" in result.output
    bad = runner.invoke(args=["newsletter", "users", "invite", "not-an-address"])
    assert bad.exit_code != 0 and "Enter the email address" in bad.output


@pytest.mark.parametrize("role", ["owner", ""])
def test_invite_with_an_unknown_role_is_refused(admin_client, role, smtp):
    response = _post(admin_client, "/admin/users/invite", {"email": "x@example.org", "role": role})
    assert response.status_code == 400
    assert "Choose a role for the new user." in response.get_data(as_text=True)


def test_times_are_shown_in_the_users_timezone(app, admin_client):
    assert _post(admin_client, "/admin/account/timezone", {"timezone": "Mars/Olympus"},
                 page="/admin/account").status_code == 302
    assert _user(app, "admin@example.org").timezone == "UTC"
    _post(admin_client, "/admin/account/timezone", {"timezone": "Asia/Tokyo"}, page="/admin/account")
    with app.app_context():
        login = db.session.scalar(select(AdminSession.created_at))
    page = admin_client.get("/admin/account").get_data(as_text=True)
    from zoneinfo import ZoneInfo

    assert login.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M JST") in page
    assert "user.timezone" in _actions(app)
