"""The public pages at their edges: lists that are not public, the per-address mail limits, and
what the timing and the words of an answer must not tell (whether an address is known)."""

from __future__ import annotations

import re
import socket
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter import links
from newsletter.extensions import db
from newsletter.models import (
    ConsentMethod,
    MailingList,
    OutboundMail,
    PrivacyRequest,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    utcnow,
)
from newsletter.sending.process import run_worker
from newsletter.subscribers import subscriptions
from newsletter.subscribers.suppression import suppress

from conftest import csrf_token, deliver_queued, make_app

CONFIRM_RE = re.compile(r"http://newsletter\.test(/confirm/\S+)")


def add_lists(app) -> dict[str, int]:
    with app.app_context():
        rows = [MailingList(slug="news", name="Weekly News", public=True,
                            sender_address="news@news.example.org"),
                MailingList(slug="deals", name="Deals", public=True),
                # Not public, single opt-in, archive on: none of that may show outside.
                MailingList(slug="staff", name="Staff Only", public=False, double_opt_in=False,
                            archive=True)]
        db.session.add_all(rows)
        db.session.commit()
        return {m.slug: m.id for m in rows}


@pytest.fixture
def lists(app):
    return add_lists(app)


def submit(client, email="ada@example.org", slug="news", query="", **fields):
    data = {"email": email, "csrf_token": csrf_token(client, f"/subscribe/{slug}{query}")}
    data.update(fields)
    return client.post(f"/subscribe/{slug}{query}", data=data)


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def same_page(body: str) -> str:
    """The page without its per-request CSRF value."""
    return re.sub(r'value="[^"]+"', "", body)


def active_member(app, email: str, slug: str) -> int:
    with app.app_context():
        mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
        outcome = subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email=email, lists=[mailing_list], existing_consent=True, send_welcome=False,
            method=ConsentMethod.admin), now=utcnow(), config=app.config)
        db.session.commit()
        return outcome.subscriber.id


# --- lists that are not public ------------------------------------------------------------------


def test_a_list_that_is_not_public_cannot_be_subscribed_to_by_its_slug(app, client, smtp, lists):
    assert client.get("/subscribe/staff").status_code == 404
    assert client.get("/subscribe/news?lists=staff").status_code == 404
    token = csrf_token(client, "/subscribe/news")
    for url in ("/subscribe/staff", "/subscribe/news?lists=staff"):
        response = client.post(url, data={"email": "eve@example.org", "csrf_token": token,
                                          "list": [str(lists["news"]), str(lists["staff"])]})
        assert response.status_code == 404
    # Single opt-in would have confirmed at once: nothing at all was stored.
    assert count(app, Subscriber) == 0 and count(app, Subscription) == 0
    assert "Staff Only" not in client.get("/").get_data(as_text=True)


def test_a_list_that_is_not_public_has_no_public_archive(client, lists):
    assert client.get("/archive/staff").status_code == 404


def test_preference_centre_shows_a_hidden_list_only_to_its_members(app, client, lists):
    member = active_member(app, "ann@example.org", "staff")
    outsider = active_member(app, "bob@example.org", "news")
    former = active_member(app, "cy@example.org", "staff")
    with app.app_context():
        subscriptions.unsubscribe(db.session, db.session.get(Subscriber, former),
                                  list_ids=[lists["staff"]], method=ConsentMethod.admin,
                                  now=utcnow())
        db.session.commit()

    def page(subscriber_id):
        path = links.preferences_url(app.config, subscriber_id, 1).removeprefix(
            "http://newsletter.test")
        return path, client.get(path).get_data(as_text=True)

    assert "Staff Only" in page(member)[1]
    for subscriber_id in (outsider, former):  # never on it, or left it
        path, body = page(subscriber_id)
        assert "Staff Only" not in body and "Deals" in body
        # Ticking it by its id anyway joins nothing.
        client.post(path, data={"csrf_token": csrf_token(client, path), "action": "save",
                                "list": [str(lists["news"]), str(lists["staff"])]})
    assert count(app, Subscription, Subscription.list_id == lists["staff"],
                 Subscription.status == SubscriptionStatus.confirmed) == 1


# --- the request path does not talk SMTP ----------------------------------------------------------


@pytest.fixture
def silent_port():
    """A port that accepts connections and never says a word: SMTP there waits for a greeting."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def silent_app(database_url, tmp_path, smtp, silent_port):
    # MAIL_TIMEOUT 5: a request that talked SMTP would take 5 s here, not milliseconds.
    app = make_app(database_url, tmp_path, silent_port, MAIL_TIMEOUT=5.0)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def timed(call) -> tuple[float, str]:
    started = time.monotonic()
    response = call()
    assert response.status_code == 200
    return time.monotonic() - started, same_page(response.get_data(as_text=True))


def test_subscribe_and_privacy_answers_are_quick_and_alike_while_mail_waits_for_the_worker(
        silent_app, smtp):
    app = silent_app
    add_lists(app)
    active_member(app, "known@example.org", "news")
    with app.app_context():
        suppress(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], "gone@example.org",
                 SuppressionReason.unsubscribe_all, utcnow())
        db.session.commit()
    client = app.test_client()
    client.get("/subscribe/news")  # the first request compiles templates: not timed

    answers = {}
    for email in ("new@example.org", "known@example.org", "gone@example.org"):
        answers[email] = timed(lambda email=email: submit(client, email=email))
        privacy = csrf_token(client, "/privacy/request")
        answers["privacy " + email] = timed(lambda email=email, token=privacy: client.post(
            "/privacy/request", data={"email": email, "kind": "access", "csrf_token": token}))
    for label, (seconds, _) in answers.items():
        assert seconds < 2.0, f"{label}: {seconds:.2f} s (the request talked SMTP?)"
    assert len({page for label, (_, page) in answers.items() if "privacy" not in label}) == 1
    assert len({page.replace(label.split()[1], "X")
                for label, (_, page) in answers.items() if "privacy" in label}) == 1
    assert smtp.messages == []

    # The worker sends what the requests queued, once the mail server answers.
    app.config["MAIL_PORT"] = smtp.port
    assert run_worker(app, threading.Event(), once=True) == 4
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == [
        "gone@example.org", "known@example.org", "new@example.org", "new@example.org"]


# --- the per-address limits ---------------------------------------------------------------------


def test_subscribing_again_after_leaving_sends_a_new_confirmation(app, client, smtp, lists):
    submit(client)
    assert deliver_queued(app) == 1
    path = CONFIRM_RE.search(smtp.messages[0].message.get_body(("plain",)).get_content()).group(1)
    client.post(path)
    assert deliver_queued(app) == 1  # "you are subscribed"
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber))
        leave = links.unsubscribe_url(app.config, subscriber.id, lists["news"])
    client.post(leave.removeprefix("http://newsletter.test"))  # this list only: no suppression
    smtp.clear()
    deliver_queued(app)
    assert smtp.messages == []

    # Minutes later, well inside NEWSLETTER_CONFIRM_RESEND_MINUTES: a fresh mail all the same.
    submit(client)
    assert deliver_queued(app) == 1
    [mail] = smtp.to("ada@example.org")
    assert mail.message["Subject"].startswith("Please confirm")
    with app.app_context():
        assert db.session.scalar(select(Subscription.status)) is SubscriptionStatus.pending


def test_a_throttled_request_says_when_to_try_again_like_any_other(app, client, smtp, lists):
    first = submit(client, email="ada@example.org").get_data(as_text=True)
    throttled = submit(client, email="ada@example.org").get_data(as_text=True)
    unknown = submit(client, email="zed@example.org").get_data(as_text=True)
    assert count(app, OutboundMail, OutboundMail.to_address == "ada@example.org") == 1
    assert same_page(first) == same_page(throttled) == same_page(unknown)
    minutes = app.config["NEWSLETTER_CONFIRM_RESEND_MINUTES"]
    assert f"ask again after {minutes} minutes" in " ".join(throttled.split())


def test_privacy_verification_mail_is_limited_per_address_across_kinds_and_ips(
        app, smtp, monkeypatch):
    from newsletter.web import privacy as privacy_pages

    limit = app.config["NEWSLETTER_PRIVACY_MAILS_PER_ADDRESS"]
    start = utcnow()
    answers = set()
    for step in range(12):  # every 11 minutes, past the per-request resend period, for 2 hours
        monkeypatch.setattr(privacy_pages, "utcnow", lambda step=step: start + timedelta(
            minutes=11 * step))
        # A new client, a new address each time: the per-IP limit never sees the same one twice.
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{step}"
        email = "victim@example.org" if step < 11 else "someone-else@example.org"
        response = client.post("/privacy/request", data={
            "email": email, "kind": ("access", "erasure")[step % 2],
            "csrf_token": csrf_token(client, "/privacy/request")})
        assert response.status_code == 200
        answers.add(same_page(response.get_data(as_text=True)).replace(email, "X"))
    assert len(answers) == 1  # throttled or not, known or not: the same page
    assert count(app, OutboundMail, OutboundMail.to_address == "victim@example.org") == limit
    assert count(app, OutboundMail, OutboundMail.to_address == "someone-else@example.org") == 1
    assert count(app, PrivacyRequest) >= 2
    hours = app.config["NEWSLETTER_PRIVACY_MAIL_WINDOW_HOURS"]
    assert f"ask again after {hours} hours" in " ".join(answers.pop().split())
