"""Exactly once, really (issue 11): a reused Message-ID with other bytes is read, and on an IMAP
server without UIDPLUS (or MOVE) nothing but our own messages is ever expunged."""

from __future__ import annotations

import hashlib

import pytest
from flask_migrate import downgrade, upgrade
from imapclient import IMAPClient
from sqlalchemy import select, text

from newsletter import create_app
from newsletter.extensions import db
from newsletter.inbound.poll import poll, process
from newsletter.models import InboundMessage, Subscriber, SubscriptionStatus

import servers
from . import mails
from .mails import NOW
from conftest import TEST_SECRET, unavailable

# What Dovecot 2.3 announces after login, less the extensions under test.
BASE = ("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND "
        "UNSELECT CHILDREN NAMESPACE LIST-EXTENDED I18NLEVEL=1 ESEARCH SEARCHRES LIST-STATUS "
        "LITERAL+ SPECIAL-USE")
SERVERS = {"neither MOVE nor UIDPLUS": BASE, "UIDPLUS without MOVE": BASE + " UIDPLUS"}
SOMEONE_ELSES = (b"From: Carol <carol@example.org>\r\nTo: news@news.example.org\r\n"
                 b"Subject: my draft\r\nMessage-ID: <carols-deleted@example.org>\r\n\r\n"
                 b"Marked for deletion by Carol's client, not expunged yet.\r\n")


def test_a_reused_message_id_with_other_bytes_is_read_the_same_bytes_are_not(app):
    people = mails.make_people(app)
    first = mails.reply(app.config, people.bob, people.campaign, "Nice issue, thanks!",
                        message_id="<reused@example.net>", sender="Bob <bob@example.com>")
    second = mails.reply(app.config, people.bob, people.campaign, "Please unsubscribe me.",
                         message_id="<reused@example.net>", sender="Bob <bob@example.com>")
    with app.app_context():
        assert process(db.session, app.config, first, NOW) == "NeedsHuman"
        assert process(db.session, app.config, second, NOW) == "Processed"
        again = process(db.session, app.config, second, NOW)
        rows = db.session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [(r.message_key, r.verdict) for r in rows] == [
            ("<reused@example.net>", "human"), ("<reused@example.net>", "unsubscribe")]
        assert rows[0].raw_digest != rows[1].raw_digest
        assert again == "Processed"
        bob = db.session.get(Subscriber, people.bob)
        assert {s.status for s in bob.subscriptions} == {SubscriptionStatus.unsubscribed}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def limited_dovecot(request):
    try:
        server = servers.start_dovecot(capability=SERVERS[request.param])
    except (RuntimeError, OSError, KeyError) as exc:
        pytest.skip(f"Dovecot IMAP not available: {exc}")
    yield request.param, server
    server.stop()


@pytest.fixture
def limited_imap(limited_dovecot):
    """The limited Dovecot with an empty mailbox (one server serves both databases)."""
    name, server = limited_dovecot
    client = _client(server)
    for _flags, _sep, folder in client.list_folders():
        if folder != "INBOX":
            client.delete_folder(folder)
    client.select_folder("INBOX")
    if client.search():
        client.delete_messages(client.search())
        client.expunge()
    client.logout()
    return name, server


def _client(server) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=server.port, ssl=False)
    client.login(server.user, server.password)
    return client


def _message_ids(client: IMAPClient, folder: str) -> list[str]:
    client.select_folder(folder, readonly=True)
    fetched = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    return sorted(data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip()
                  for data in fetched.values())


def test_without_uidplus_only_our_messages_leave_the_inbox(app, limited_imap):
    name, server = limited_imap
    people = mails.make_people(app)
    app.config["NEWSLETTER_INBOUND"] = server.url
    client = _client(server)
    try:
        assert not client.has_capability("MOVE"), "the server still announces MOVE"
        assert client.has_capability("UIDPLUS") == ("UIDPLUS" in SERVERS[name])
        client.append("INBOX", SOMEONE_ELSES, flags=[b"\\Deleted"])
        client.append("INBOX", mails.reply(app.config, people.alice, people.campaign,
                                           "Please unsubscribe me.", message_id="<unsub@x>"))
        client.append("INBOX", mails.reply(app.config, people.bob, people.campaign,
                                           "Great issue, one question?", message_id="<chat@x>",
                                           sender="Bob <bob@example.com>"))
        with app.app_context():
            first = poll(db.session, app.config)
            second = poll(db.session, app.config)
            rows = db.session.scalars(select(InboundMessage)).all()
        # Carol's message is her client's to expunge or restore: not read, not moved.
        assert (first.seen, first.handled, first.needs_human) == (2, 2, 1)
        assert (second.seen, second.handled) == (0, 0)
        assert len(rows) == 2
        inbox = _message_ids(client, "INBOX")
        if "UIDPLUS" in SERVERS[name]:
            assert inbox == ["<carols-deleted@example.org>"]
        else:  # ours stay too, flagged, for whoever expunges the mailbox
            assert inbox == ["<carols-deleted@example.org>", "<chat@x>", "<unsub@x>"]
        assert _message_ids(client, "Processed") == ["<unsub@x>"]
        assert _message_ids(client, "NeedsHuman") == ["<chat@x>"]
    finally:
        client.logout()


@pytest.fixture(params=["sqlite", "postgresql"])
def migrating_app(request, tmp_path, pg_server_url):
    """An app on a database of its own, its schema built by the migrations."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'digest.db'}"
    elif not pg_server_url:
        unavailable("TEST_DATABASE_URL is not set")
    else:
        url = servers.create_pg_database(pg_server_url)
    app = create_app({"TESTING": True}, environ={
        "NEWSLETTER_ENV": "testing", "SECRET_KEY": TEST_SECRET, "DATABASE_URL": url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance")})
    yield app
    with app.app_context():
        db.engine.dispose()
    if request.param == "postgresql":
        servers.drop_pg_database(url)


def test_the_migration_gives_kept_bytes_their_digest_and_downgrades_without_loss(migrating_app):
    insert = text("INSERT INTO inbound_message (message_key, received_at, sender, subject, "
                  "verdict, reasons, action, status, raw, note) VALUES (:key, :at, '', '', "
                  "'human', '[]', '', 'done', :raw, '')")
    with migrating_app.app_context():
        upgrade(revision="c4e8a1f2d7b3")
        with db.engine.begin() as conn:
            conn.execute(insert, {"key": "<old@x>", "at": NOW, "raw": b"old bytes"})
            conn.execute(insert, {"key": "<purged@x>", "at": NOW, "raw": None})
        upgrade()
        with db.engine.begin() as conn:
            digests = dict(conn.execute(text(
                "SELECT message_key, raw_digest FROM inbound_message")).all())
            assert digests == {"<old@x>": hashlib.sha256(b"old bytes").hexdigest(),
                               "<purged@x>": None}
            conn.execute(text("INSERT INTO inbound_message (message_key, raw_digest, "
                              "received_at, sender, subject, verdict, reasons, action, status, "
                              "note) VALUES ('<old@x>', 'other', :at, '', '', 'human', '[]', '', "
                              "'done', '')"), {"at": NOW})
        downgrade(revision="c4e8a1f2d7b3")
        with db.engine.begin() as conn:
            keys = sorted(conn.execute(text("SELECT message_key FROM inbound_message")).scalars())
        assert keys == ["<old@x>", "<old@x>#other", "<purged@x>"]
