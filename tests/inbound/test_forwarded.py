"""A list server's confirmation notice, forwarded or pasted, is not the person's request; a
request naming the sender's own address is (issue 11)."""

from __future__ import annotations

import pytest

from newsletter.inbound.classify import Kind, classify
from newsletter.models import SubscriptionStatus
from tests.inbound.mails import make_people, plain

# Our own wording of the notice list servers send before they remove an address.
NOTICE = """Mailing list removal confirmation notice for the garden-club list

We have received a request from 198.51.100.23 to remove your address
ann@example.net from the garden-club@lists.example.org mailing list.
To confirm that you want to be removed from this mailing list, simply
reply to this message, keeping the Subject: header intact.
If you do not wish to be unsubscribed, please disregard this message."""
NOTICE_SUBJECT = "Your confirmation is needed to leave the garden-club mailing list"
FORWARDS = {
    "gmail": "---------- Forwarded message ---------\nFrom: garden-club-request@lists.example.org"
             f"\nSubject: {NOTICE_SUBJECT}\nTo: <ann@example.net>\n\n\n{NOTICE}",
    "apple": "Did I ask for this? I never did.\n\nBegin forwarded message:\n\n"
             f"From: garden-club-request@lists.example.org\nSubject: {NOTICE_SUBJECT}\n\n{NOTICE}",
    "outlook": "FYI\n\n________________________________\nFrom: garden-club-request@lists.example.org"
               f"\nSent: Tuesday, June 2, 2026 10:00\n\n{NOTICE}",
    "pasted": f"Hi, what is this?\n\n{NOTICE}",
}


@pytest.mark.parametrize("style", FORWARDS)
@pytest.mark.parametrize("subject", [f"Fwd: {NOTICE_SUBJECT}", NOTICE_SUBJECT, "what is this?"])
def test_forwarded_confirmation_notice_is_not_a_request(style, subject):
    verdict = classify(plain("Ann <ann@example.net>", "news@news.example.org", subject,
                             FORWARDS[style], message_id="<fwd@example.net>"))
    assert verdict.kind is not Kind.unsubscribe, verdict.reasons


@pytest.mark.parametrize("header", ["Begin forwarded message:", "Anfang der weitergeleiteten "
                                    "Nachricht:", "Début du message réexpédié :"])
@pytest.mark.parametrize("sender_line", ["From: Bob <bob@example.com>\n", ""])
def test_apple_mail_forward_of_someone_elses_request_is_not_the_senders(header, sender_line):
    # Without a "From: ...@" line only the forward header itself marks where Bob's words begin.
    text = (f"Sharing this with you.\n\n{header}\n\n{sender_line}"
            "Subject: newsletter\n\nPlease unsubscribe me, thanks.\nBob")
    verdict = classify(plain("Ann <ann@example.net>", "news@news.example.org", "Fwd: newsletter",
                             text, message_id="<applefwd@example.net>"))
    assert verdict.kind is not Kind.unsubscribe, verdict.reasons


@pytest.mark.parametrize("text", [
    "Hello,\nplease remove email address ann@example.net from the distribution list.\nThanks",
    "Could you remove ann@example.net from your distribution list? Thank you.",
    "Please remove the e-mail address ann@example.net, thanks.",
])
def test_remove_address_from_the_list_is_an_unsubscribe_naming_it(text):
    verdict = classify(plain("Ann <ann@example.net>", "news@news.example.org", "Newsletter",
                             text, message_id="<own@example.net>"))
    assert verdict.kind is Kind.unsubscribe, verdict.reasons
    assert verdict.mentioned == ["ann@example.net"]


@pytest.fixture
def people(app):
    return make_people(app)


@pytest.mark.parametrize("named, acts", [("alice@example.net", True), ("bob@example.com", False)])
def test_remove_named_address_acts_only_for_the_senders_own(app, people, named, acts):
    from tests.inbound.test_handle import run, statuses

    text = f"Hello,\nplease remove email address {named} from the distribution list.\nThanks"
    row = run(app, plain("Alice <alice@example.net>", "news@news.example.org", "Newsletter",
                         text, message_id=f"<named-{named}>"))
    assert row.verdict == "unsubscribe"
    assert row.action.endswith("by-from") is acts, row.action
    expected = SubscriptionStatus.unsubscribed if acts else SubscriptionStatus.confirmed
    assert statuses(app, people.bob if not acts else people.alice)[people.weekly] is expected
