"""A request identified only by its From acts only when our own server authenticated the From.

Issue 11: a forged `From:` (our server had written `dmarc=fail`) unsubscribed another subscriber.
Our server's authserv-id is `mx.news.example.org`; headers with any other id do not count.
"""

from __future__ import annotations

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.inbound import authres
from newsletter.inbound.poll import poll
from newsletter.models import InboundMessage, InboundStatus, SubscriptionStatus

from . import mails
from .test_handle import run, statuses

OURS = "mx.news.example.org"


@pytest.fixture
def people(app):
    return mails.make_people(app)


def request(text: str, subject: str, *results: str, sender: str = "Alice <alice@example.net>",
            message_id: str = "<auth@example.net>") -> bytes:
    """A bare-From request (no token) with these Authentication-Results, topmost first."""
    raw = mails.plain(sender, "news@news.example.org", subject, text, message_id=message_id)
    head = "".join(f"Authentication-Results: {r}\r\n" for r in results).encode()
    return head + raw


FORGED = [
    # (language, subject, text, Authentication-Results)
    ("en", "unsubscribe", "Please unsubscribe me.",
     [f"{OURS}; spf=fail smtp.mailfrom=alice@example.net; dkim=none; dmarc=fail "
      "header.from=example.net"]),
    ("de", "Abmeldung", "Bitte melden Sie mich ab.",
     [f"{OURS}; spf=pass smtp.mailfrom=bulk@forger.example; dkim=pass header.d=forger.example; "
      "dmarc=fail (p=reject) header.from=example.net"]),
    ("fr", "desabonnement", "Merci de me désabonner.",
     [f"{OURS}; spf=softfail smtp.mailfrom=example.net; dkim=fail header.d=example.net"]),
    ("es", "baja", "Por favor, darme de baja.",
     # A header the forger wrote with our id sits below ours: only the topmost counts.
     [f"{OURS}; spf=fail smtp.mailfrom=example.net; dmarc=fail header.from=example.net",
      f"{OURS}; spf=pass smtp.mailfrom=example.net; dkim=pass header.d=example.net"]),
    ("nl", "afmelden", "Graag wil ik mij afmelden.",
     # A pass from somebody else's server says nothing.
     ["mx.forger.example; spf=pass smtp.mailfrom=example.net; dkim=pass header.d=example.net"]),
    ("pl", "wypisz", "Proszę wypisać mnie z listy.", []),
]


@pytest.mark.parametrize("language, subject, text, results", FORGED,
                         ids=[row[0] for row in FORGED])
def test_bare_from_request_without_our_pass_waits_for_a_person(app, people, language, subject,
                                                               text, results):
    app.config["NEWSLETTER_INBOUND_AUTHSERV_ID"] = OURS
    row = run(app, request(text, subject, *results))
    assert row.verdict == "unsubscribe"
    assert row.status is InboundStatus.needs_human
    assert row.action == "sender-not-authenticated: a person decides"
    assert any(r.startswith("sender not authenticated: ") for r in row.reasons)
    assert set(statuses(app, people.alice).values()) == {SubscriptionStatus.confirmed}


@pytest.mark.parametrize("result", [
    f"{OURS}; spf=pass smtp.mailfrom=alice@example.net",
    f"{OURS.upper()}; dkim=pass (good signature) header.d=mail.example.net; spf=none",
    f"{OURS} 1; dmarc=pass header.from=example.net",
])
def test_bare_from_request_with_our_aligned_pass_acts(app, people, result):
    app.config["NEWSLETTER_INBOUND_AUTHSERV_ID"] = OURS
    row = run(app, request("Please unsubscribe me.", "unsubscribe", result))
    assert row.action.endswith("by-from")
    assert any(r.startswith("sender authenticated: ") for r in row.reasons)
    assert set(statuses(app, people.alice).values()) == {SubscriptionStatus.unsubscribed}


def test_access_request_by_forged_from_waits_for_a_person(app, people):
    app.config["NEWSLETTER_INBOUND_AUTHSERV_ID"] = OURS
    row = run(app, request("What personal data do you have about me?", "My data",
                           f"{OURS}; dmarc=fail header.from=example.net"))
    assert row.verdict == "access_request"
    assert row.status is InboundStatus.needs_human


def test_without_the_setting_bare_from_acts_as_before_and_says_so(app, people):
    app.config["NEWSLETTER_INBOUND_AUTHSERV_ID"] = ""
    row = run(app, request("Please unsubscribe me.", "unsubscribe"))
    assert row.action.endswith("by-from")
    assert "sender not authenticated (NEWSLETTER_INBOUND_AUTHSERV_ID unset)" in row.reasons


def test_token_identified_request_needs_no_authentication(app, people):
    app.config["NEWSLETTER_INBOUND_AUTHSERV_ID"] = OURS
    raw = mails.reply(app.config, people.alice, people.campaign, "Please unsubscribe me.",
                      message_id="<tok@example.net>")
    row = run(app, f"Authentication-Results: {OURS}; dmarc=fail\r\n".encode() + raw)
    assert row.action.endswith("by-token")


@pytest.mark.parametrize("headers, sender, expected", [
    ([f"{OURS}; spf=pass smtp.mailfrom=example.net.evil.example"], "a@example.net", False),
    ([f"{OURS}; dkim=pass header.d=com"], "a@example.com", False),
    ([f"{OURS}; spf=pass smtp.mailfrom=bounce.example.net"], "a@example.net", True),
    ([f"{OURS} (comment; with semicolon); spf=pass smtp.mailfrom=example.net"], "a@example.net",
     True),
    ([f"{OURS}; none"], "a@example.net", False),
    (["garbage without structure"], "a@example.net", False),
])
def test_check_reads_alignment_and_ignores_junk(headers, sender, expected):
    assert authres.check(headers, OURS, sender)[0] is expected


def test_through_imap_a_forged_from_waits_and_an_authenticated_one_acts(app, people, imap):
    """The whole path: Dovecot -> poll -> classify -> handle -> folder (not `process` alone)."""
    app.config.update(NEWSLETTER_INBOUND=imap.url, NEWSLETTER_INBOUND_AUTHSERV_ID=OURS)
    forged = request("Please unsubscribe me.", "unsubscribe",
                     f"{OURS}; spf=fail smtp.mailfrom=example.net; dmarc=fail "
                     "header.from=example.net", message_id="<forged@x>")
    genuine = request("Please unsubscribe me.", "unsubscribe",
                      f"{OURS}; dkim=pass header.d=example.com; spf=pass "
                      "smtp.mailfrom=bob@example.com", sender="Bob <bob@example.com>",
                      message_id="<genuine@x>")
    with IMAPClient("127.0.0.1", port=imap.port, ssl=False) as client:
        client.login(imap.user, imap.password)
        client.append("INBOX", forged)
        client.append("INBOX", genuine)
        with app.app_context():
            result = poll(db.session, app.config)
        assert (result.seen, result.needs_human) == (2, 1)
        counts = {name: client.folder_status(name, ["MESSAGES"])[b"MESSAGES"]
                  for name in ("INBOX", "Processed", "NeedsHuman")}
    assert counts == {"INBOX": 0, "Processed": 1, "NeedsHuman": 1}
    assert set(statuses(app, people.alice).values()) == {SubscriptionStatus.confirmed}
    assert set(statuses(app, people.bob).values()) == {SubscriptionStatus.unsubscribed}
    with app.app_context():
        row = db.session.scalar(select(InboundMessage).where(
            InboundMessage.message_key == "<forged@x>"))
        assert row.action == "sender-not-authenticated: a person decides"
        assert f"sender not authenticated: dmarc=fail ({OURS})" in row.reasons
