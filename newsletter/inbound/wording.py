"""What the machine did with an inbound message, in plain words for the admin inbox.

`InboundMessage.action` stays a short code (handle.py and inbox.py write it; the API and the
labelled corpus export read it); this table only says it for a person. Rules as data: the first
pattern that matches wins, and an unknown code is shown as it is.
"""

from __future__ import annotations

import re

_BY = {"token": "the reply carried our link", "from": "found by the sender's address",
       "admin": "by a person"}
_WAITS = {
    "no-subscriber": "no subscriber has the sender's address",
    "names-another-address": "the message asks about another address",
    "token-and-sender-differ": "the reply came from a different subscriber than the one it was sent to",
    "sender-not-authenticated": "the sender's address could not be verified (SPF, DKIM, DMARC)",
    "no-valid-address": "no valid address to send the verification link to",
    "error": "the message could not be read",
}


def _plural(n: str, word: str) -> str:
    return f"{n} {word}" + ("" if n == "1" else "s")


RULES: list[tuple[re.Pattern, object]] = [
    (re.compile(r"unsubscribed-(\d+)-lists-by-(\w+)"),
     lambda m: f"Unsubscribed from {_plural(m[1], 'list')} ({_BY.get(m[2], m[2])})"),
    (re.compile(r"unsubscribed-all-and-suppressed"),
     lambda m: "Unsubscribed from every list and suppressed (a spam complaint)"),
    (re.compile(r"already-unsubscribed"), lambda m: "Nothing to do: already unsubscribed"),
    (re.compile(r"([\w-]+): a person decides(.*)"),
     lambda m: f"Waiting for a person: {_WAITS.get(m[1], m[1])}{m[2]}"),
    (re.compile(r"no-token: nobody counted or suppressed"),
     lambda m: "Recorded only: no link of ours in it, so nobody's bounces were counted"),
    (re.compile(r"no-token: nobody suppressed"),
     lambda m: "Recorded only: no link of ours in it, so nobody was suppressed"),
    (re.compile(r"policy-rejection-counted"),
     lambda m: "Counted as a policy rejection (nobody suppressed)"),
    (re.compile(r"bounce-(\w+): suppressed"), lambda m: f"A {m[1]} bounce: the address is suppressed"),
    (re.compile(r"bounce-(\w+): counted, score (\d+)"),
     lambda m: f"A {m[1]} bounce, counted (bounce score now {m[2]})"),
    (re.compile(r"bounce-(\w+): already counted today, score (\d+)"),
     lambda m: f"A {m[1]} bounce, not counted again today (bounce score {m[2]})"),
    (re.compile(r"bounce-(\w+): recorded"), lambda m: f"A {m[1]} bounce, recorded"),
    (re.compile(r"privacy-request-(\d+)-link-sent(.*)"),
     lambda m: f"Privacy request {m[1]} opened; the verification link was mailed{m[2]}"),
    (re.compile(r"recorded: (.*)"), lambda m: f"Recorded only: {m[1]}"),
    (re.compile(r"ignored"), lambda m: "Ignored (an automatic reply)"),
    (re.compile(r"waits-in-inbox"), lambda m: "Waiting for a person"),
    (re.compile(r"answered-by-admin"), lambda m: "Answered by a person (the answer was mailed)"),
    (re.compile(r"handled-by-admin"), lambda m: "Marked as handled by a person"),
    (re.compile(r"reclassified: (.*)"), lambda m: f"Relabelled by a person; {describe(m[1])[0].lower()}"
                                                  f"{describe(m[1])[1:]}"),
]


def describe(action: str | None) -> str:
    """An action code in plain words.

    >>> describe("unsubscribed-1-lists-by-token")
    'Unsubscribed from 1 list (the reply carried our link)'
    >>> describe("bounce-hard: suppressed")
    'A hard bounce: the address is suppressed'
    """
    if not action:
        return "Nothing yet"
    for pattern, words in RULES:
        match = pattern.fullmatch(action)
        if match:
            return words(match)
    return action
