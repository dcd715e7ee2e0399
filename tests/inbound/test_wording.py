"""Every action code handle.py and inbox.py write reads as words in the admin inbox."""

import pytest

from newsletter.inbound.wording import describe

CASES = [
    ("unsubscribed-1-lists-by-token", "Unsubscribed from 1 list (the reply carried our link)"),
    ("unsubscribed-3-lists-by-from", "Unsubscribed from 3 lists (found by the sender's address)"),
    ("unsubscribed-all-and-suppressed", "Unsubscribed from every list and suppressed (a spam complaint)"),
    ("already-unsubscribed", "Nothing to do: already unsubscribed"),
    ("no-subscriber: a person decides", "Waiting for a person: no subscriber has the sender's address"),
    ("sender-not-authenticated: a person decides",
     "Waiting for a person: the sender's address could not be verified (SPF, DKIM, DMARC)"),
    ("no-token: nobody suppressed", "Recorded only: no link of ours in it, so nobody was suppressed"),
    ("bounce-soft: counted, score 2", "A soft bounce, counted (bounce score now 2)"),
    ("privacy-request-7-link-sent", "Privacy request 7 opened; the verification link was mailed"),
    ("ignored", "Ignored (an automatic reply)"),
    ("waits-in-inbox", "Waiting for a person"),
    ("reclassified: unsubscribed-2-lists-by-admin",
     "Relabelled by a person; unsubscribed from 2 lists (by a person)"),
    ("something-new", "something-new"),
    ("", "Nothing yet"),
]


@pytest.mark.parametrize(("code", "words"), CASES)
def test_action_codes_read_as_words(code, words):
    assert describe(code) == words
