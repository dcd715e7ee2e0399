"""Did our own receiving server authenticate the From domain? (RFC 8601 Authentication-Results)

A request identified only by its From address is easy to forge: anyone can write
`From: alice@example.net`. Before acting on one, handle.py asks whether the server that received
the message for us (its authserv-id is `NEWSLETTER_INBOUND_AUTHSERV_ID`) saw SPF or DKIM pass for
a domain aligned with the From domain (DMARC's relaxed alignment, RFC 7489 3.1), or DMARC pass
for it. Headers with any other authserv-id are ignored (RFC 8601 section 5: a sender can add
them), and of ours only the topmost counts: the last one added, at our border.

>>> results = parse("mx.example.org; spf=pass smtp.mailfrom=ann@mail.example.net; "
...                 "dkim=fail (bad sig) header.d=example.net; dmarc=fail header.from=example.net")
>>> results.authserv_id, [(r.method, r.result) for r in results.results]
('mx.example.org', [('spf', 'pass'), ('dkim', 'fail'), ('dmarc', 'fail')])
>>> check(["mx.example.org; dkim=pass header.d=example.net"], "mx.example.org", "ann@example.net")
(True, 'dkim=pass for example.net (mx.example.org)')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_HEADERS = 20  # Authentication-Results headers read per message
COMMENT = re.compile(r"\([^()]*\)")  # CFWS comments; nested ones are taken apart inside out
PASSING = ("spf", "dkim")
# The property of each method that names the domain it vouches for (RFC 8601 2.7, RFC 7489 3.1).
DOMAIN_PROPERTIES = {
    "spf": ("smtp.mailfrom", "smtp.helo"),
    "dkim": ("header.d", "header.i"),
    "dmarc": ("header.from",),
}


@dataclass
class Result:
    """One `method=result prop=value ...` clause."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class AuthenticationResults:
    """One Authentication-Results header."""

    authserv_id: str
    results: list[Result] = field(default_factory=list)


def parse(value: str) -> AuthenticationResults:
    """One header value, comments removed; unknown syntax is skipped, never raised on."""
    text = value.replace("\r", " ").replace("\n", " ")
    for _ in range(5):
        text, found = COMMENT.subn(" ", text)
        if not found:
            break
    clauses = [c.strip() for c in text.split(";")]
    authserv_id = (clauses[0].split() or [""])[0].strip().lower()
    parsed = AuthenticationResults(authserv_id)
    for clause in clauses[1:]:
        words = clause.split()
        if not words or "=" not in words[0]:
            continue  # "none" (no result) or junk
        method, result = words[0].lower().split("=", 1)
        properties = {}
        for word in words[1:]:
            key, _, val = word.partition("=")
            properties[key.lower()] = val.strip('"').lower()
        parsed.results.append(Result(method.split("/")[0], result.lower(), properties))
    return parsed


def domain_of(address: str) -> str:
    """The domain of an address or of a bare domain, lower-case.

    >>> domain_of("Ann@Mail.Example.NET")
    'mail.example.net'
    """
    return address.rsplit("@", 1)[-1].strip().strip(">").rstrip(".").lower()


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment without a public-suffix list: the same domain, or one a subdomain of the
    other, never across a bare top-level domain.

    >>> aligned("mail.example.net", "example.net"), aligned("net", "example.net")
    (True, False)
    """
    if not domain or not from_domain or "." not in domain or "." not in from_domain:
        return False
    return (domain == from_domain or domain.endswith("." + from_domain)
            or from_domain.endswith("." + domain))


def check(headers: list[str], authserv_id: str, sender: str) -> tuple[bool, str]:
    """(authenticated, why) for the From address `sender`, by our server's topmost header."""
    ours = [parse(h) for h in headers[:MAX_HEADERS]]
    ours = [r for r in ours if r.authserv_id == authserv_id.strip().lower()]
    if not ours:
        return False, f"no Authentication-Results from {authserv_id}"
    from_domain = domain_of(sender)
    results = ours[0].results
    for result in results:
        if result.method == "dmarc" and result.result == "fail":
            return False, f"dmarc=fail ({authserv_id})"
    for result in results:
        if result.result != "pass" or result.method not in (*PASSING, "dmarc"):
            continue
        for name in DOMAIN_PROPERTIES[result.method]:
            domain = domain_of(result.properties.get(name, ""))
            if aligned(domain, from_domain):
                return True, f"{result.method}=pass for {domain} ({authserv_id})"
    seen = ", ".join(f"{r.method}={r.result}" for r in results) or "no results"
    return False, f"no SPF or DKIM pass aligned with {from_domain} ({seen}; {authserv_id})"
