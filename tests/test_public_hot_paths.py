"""What the hot public POSTs cost the web process (issue 12): a subscribe is a handful of SQL
statements and no mail work (the worker loop renders, builds and sends the confirmation); an
RFC 8058 one-click unsubscribe on PostgreSQL is one autocommitted statement."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

from newsletter import links
from newsletter.extensions import db, statement_engine
from newsletter.integrations import webhooks
from newsletter.models import (
    ConsentEvent,
    ConsentMethod,
    MailingList,
    OutboundMail,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from newsletter.sending.process import run_worker

from conftest import csrf_token, make_app

CONFIRM_RE = re.compile(r"http://newsletter\.test(/confirm/\S+)")
MAX_STATEMENTS = 5


@pytest.fixture
def news(app):
    with app.app_context():
        rows = [MailingList(slug="news", name="Weekly News", public=True,
                            sender_address="news@news.example.org"),
                MailingList(slug="deals", name="Deals", public=True)]
        db.session.add_all(rows)
        db.session.commit()
        return {m.slug: m.id for m in rows}


@contextmanager
def counted_statements(app):
    """Every SQL statement the app's engine sends while the block runs."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def post_form(client, email, query="", list_ids=()):
    token = csrf_token(client, f"/subscribe/news{query}")
    data = {"email": email, "name": "Ada", "country": "GB", "csrf_token": token,
            "list": [str(i) for i in list_ids]}
    with counted_statements(client.application) as statements:
        response = client.post(f"/subscribe/news{query}", data=data)
    assert response.status_code == 200
    return statements


@pytest.mark.parametrize("query", ["", "?lists=deals"])
def test_a_subscribe_post_costs_at_most_five_statements_new_or_known(app, client, smtp, news, query):
    with app.app_context():  # steady state: the process has looked whether any webhook listens
        assert webhooks.emit(db.session, webhooks.Event.subscribed, {}, utcnow()) == 0
    for label in ("new", "known", "known again"):
        statements = post_form(client, "ada@example.org", query, news.values())
        assert len(statements) <= MAX_STATEMENTS, (label, statements)
    with app.app_context():
        (mail,) = db.session.scalars(select(OutboundMail)).all()
        # Nothing rendered or signed in the request: the worker builds the message.
        assert mail.raw == b"" and mail.payload["template"] == "confirm"
        assert db.session.query(Subscriber).count() == 1
        assert db.session.query(Subscription).count() == (2 if query else 1)
    assert smtp.messages == []


def test_the_worker_loop_renders_and_sends_the_confirmation_that_then_confirms(app, client, smtp, news):
    post_form(client, "bea@example.net")
    assert smtp.messages == []

    assert run_worker(app, threading.Event(), once=True) == 1
    (received,) = smtp.wait_for(1)
    assert received.rcpt_tos == ["bea@example.net"]
    assert received.message["Subject"] == "Please confirm your subscription to Weekly News"
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = received.message.get_body(("plain",)).get_content()
    assert "Hello Ada," in text and "bea@example.net" in text
    with app.app_context():
        mail = db.session.scalar(select(OutboundMail))
        # What went out is kept as it was sent (a retry would send the same bytes).
        assert mail.status == "sent" and mail.payload is None
        assert mail.raw.replace(b"\r\n", b"\n") in received.raw.replace(b"\r\n", b"\n")

    path = CONFIRM_RE.search(text).group(1)
    assert client.post(path).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Subscription.status)) is SubscriptionStatus.confirmed


def one_click_path(app, email: str, list_id: int) -> str:
    """The List-Unsubscribe URL path of a new confirmed subscriber of `list_id`."""
    with app.app_context():
        subscriber = Subscriber(email=email, status=SubscriberStatus.active)
        db.session.add(subscriber)
        db.session.flush()
        db.session.add(Subscription(subscriber_id=subscriber.id, list_id=list_id,
                                    status=SubscriptionStatus.confirmed))
        db.session.commit()
        return "/u/" + links.unsubscribe_token(app.config, subscriber.id, list_id)


@pytest.mark.postgresql
@pytest.mark.postgresql_only  # SQLite takes the portable path (tests/subscribers)
def test_one_click_is_one_autocommitted_statement_and_records_the_withdrawal(app, news):
    path = one_click_path(app, "bea@example.net", news["news"])
    seen: list[tuple[str, bool]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, conn.connection.dbapi_connection.autocommit))

    # Every engine: the one-click path has its own (extensions.statement_engine).
    event.listen(Engine, "before_cursor_execute", record)
    try:
        for _ in range(2):  # a repeat is a success too, and changes nothing
            response = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"},
                                              headers={"User-Agent": "Mail/1.0"})
            assert response.status_code == 200 and response.text == "Unsubscribed.\n"
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert len(seen) == 2 and all(autocommit for _, autocommit in seen), seen
    with app.app_context():
        assert db.session.scalar(select(Subscription.status)) is SubscriptionStatus.unsubscribed
        assert db.session.scalar(select(Subscriber.status)) is SubscriberStatus.unsubscribed
        (event_,) = db.session.scalars(select(ConsentEvent)).all()
        assert (event_.granted, event_.method, event_.user_agent) == (
            False, ConsentMethod.one_click, "Mail/1.0")


def _one_pooled_connection(app):
    """The one-click engine, holding exactly one pooled connection (so the next POST uses it)."""
    with app.app_context():
        engine = statement_engine(app)
    with engine.connect():
        pass
    assert engine.pool.checkedin() == 1
    return engine


@pytest.mark.postgresql
@pytest.mark.postgresql_only
def test_one_click_survives_a_dropped_database_connection(app, news):
    """The server ends the pooled connection (a restart, a failover): the next one-click POST
    is answered 200 and its unsubscribe is recorded, on a new connection."""
    path = one_click_path(app, "cy@example.net", news["news"])
    engine = _one_pooled_connection(app)
    pooled = engine.raw_connection()
    backend = pooled.driver_connection.info.backend_pid
    pooled.close()
    with app.app_context():
        assert db.session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        db.session.commit()

    response = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and response.text == "Unsubscribed.\n"
    with app.app_context():
        assert db.session.scalar(select(Subscription.status)) is SubscriptionStatus.unsubscribed
        assert db.session.scalar(select(ConsentEvent.method)) is ConsentMethod.one_click
    pooled = engine.raw_connection()
    assert pooled.driver_connection.info.backend_pid != backend
    pooled.close()


def test_rfc8058_post_is_answered_beneath_flask_with_the_client_behind_the_proxy(
        database_url, tmp_path, smtp):
    """The one-click POST runs no Flask request (no hooks, no session): the WSGI layer in
    web/one_click.py answers it, inside ProxyFix, with the usual security headers. A multipart
    one-click and a bad token still reach Flask."""
    app = make_app(database_url, tmp_path, smtp.port, NEWSLETTER_PROXY_COUNT=1)
    with app.app_context():
        news = MailingList(slug="news", name="Weekly News", public=True)
        ada = Subscriber(email="ada@example.net", status=SubscriberStatus.active)
        db.session.add_all([news, ada])
        db.session.flush()
        db.session.add(Subscription(subscriber_id=ada.id, list_id=news.id,
                                    status=SubscriptionStatus.confirmed))
        db.session.commit()
        path = "/u/" + links.unsubscribe_token(app.config, ada.id, news.id)
    flask_requests: list[str] = []
    app.before_request(lambda: flask_requests.append("seen") and None)
    client = app.test_client()
    headers = {"X-Forwarded-For": "203.0.113.9", "User-Agent": "Provider/2"}

    response = client.post(path, data="List-Unsubscribe=One-Click", headers=headers,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and response.text == "Unsubscribed.\n"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "Set-Cookie" not in response.headers
    assert flask_requests == []
    with app.app_context():
        (withdrawal,) = db.session.scalars(select(ConsentEvent)).all()
        assert (withdrawal.method, withdrawal.ip, withdrawal.user_agent) == (
            ConsentMethod.one_click, "203.0.113.9", "Provider/2")
        assert db.session.scalar(select(Subscription.status)) is SubscriptionStatus.unsubscribed

    # multipart/form-data is allowed by RFC 8058 too: Flask's route answers it the same way
    response = client.post(path, data={"List-Unsubscribe": "One-Click"}, headers=headers,
                           content_type="multipart/form-data")
    assert response.status_code == 200 and response.text == "Unsubscribed.\n"
    assert flask_requests == ["seen"]
    # a tampered token gets Flask's error page, not a silent 200
    response = client.post(path[:-3] + "xyz", data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and "does not work" in response.text
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if "newsletter.statement_engine" in app.extensions:
        app.extensions["newsletter.statement_engine"].dispose()
