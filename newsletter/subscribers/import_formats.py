"""The CSV layouts other tools export, as data: which column is the address, the name, the
country, the proof of consent; which rows are people who left; which columns are the tool's own
bookkeeping. Every other column becomes `subscriber.attributes.<name>`.

A file is recognised by its header row: the first format whose `signature` columns are all
present wins, and a file no format claims is read as our own layout (`email`, `name`,
`country`, anything else an attribute). Headers are compared by their attribute name
(`attributes.name_from_header`: "Email Address" and "email_address" are the same column).

Sources, each checked against the tool's own export code or documentation:
- Mailchimp: Audience > Export (subscribed, unsubscribed and cleaned files share the columns;
  the latter two add UNSUB_TIME / CLEAN_TIME).
- listmonk: Subscribers > Export (`uuid,email,name,attributes,status,created_at,updated_at`,
  attributes a JSON object).
- Sendy: includes/subscribers/export-csv.php ("Name","Email","Joined",...,"Status","GDPR", then
  the list's custom fields).
- Substack: email_list.<publication>.csv (`email,active_subscription,expiry,plan,email_disabled,
  created_at,...`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from newsletter.subscribers.attributes import NAME, name_from_header

ANY = None  # in `skip_when`: any non-empty value means the row is skipped

# What a column can mean (besides an attribute).
ROLES = ("email", "name", "first_name", "last_name", "country", "language", "consent_time",
         "consent_ip", "attributes_json")


@dataclass(frozen=True)
class Format:
    """One tool's export: how to read its columns."""

    name: str
    signature: frozenset[str]  # these columns together identify the tool
    columns: Mapping[str, str]  # column -> role (ROLES); several columns may share consent_*
    ignored: frozenset[str] = frozenset()  # the tool's bookkeeping: not kept
    # column -> values (lower case) that mean "this person is not subscribed there": skipped.
    skip_when: Mapping[str, frozenset[str] | None] = field(default_factory=dict)


MAILCHIMP = Format(
    name="Mailchimp",
    signature=frozenset({"email_address", "optin_time"}),
    columns={"email_address": "email", "first_name": "first_name", "last_name": "last_name",
             "cc": "country", "optin_time": "consent_time", "confirm_time": "consent_time",
             "optin_ip": "consent_ip", "confirm_ip": "consent_ip"},
    ignored=frozenset({"member_rating", "latitude", "longitude", "gmtoff", "dstoff", "timezone",
                       "region", "last_changed", "leid", "euid", "notes", "tags",
                       "unsub_time", "unsub_campaign_title", "unsub_campaign_id", "unsub_reason",
                       "unsub_reason_other", "clean_time", "clean_campaign_title",
                       "clean_campaign_id"}),
    skip_when={"unsub_time": ANY, "clean_time": ANY},
)

LISTMONK = Format(
    name="listmonk",
    signature=frozenset({"uuid", "email", "attributes", "status"}),
    columns={"email": "email", "name": "name", "attributes": "attributes_json",
             "created_at": "consent_time"},
    ignored=frozenset({"uuid", "status", "updated_at"}),
    skip_when={"status": frozenset({"blocklisted"})},
)

SENDY = Format(
    name="Sendy",
    signature=frozenset({"email", "joined", "opt_in_method", "status"}),
    columns={"name": "name", "email": "email", "country_code": "country",
             "joined": "consent_time", "ip_address": "consent_ip"},
    ignored=frozenset({"last_activity", "added_via", "opt_in_method", "country",
                       "signed_up_from", "status", "gdpr"}),
    # Only "Active" people gave a consent that still holds.
    skip_when={"status": frozenset({"bounced", "marked as spam", "unsubscribed", "unconfirmed"})},
)

SUBSTACK = Format(
    name="Substack",
    signature=frozenset({"email", "active_subscription", "email_disabled"}),
    columns={"email": "email", "name": "name", "created_at": "consent_time"},
    ignored=frozenset({"email_disabled", "prefer_digests", "first_payment_at"}),
    skip_when={"email_disabled": frozenset({"true"})},
)

# Our own layout; also what any file no tool claims is read as.
GENERIC = Format(
    name="CSV",
    signature=frozenset({"email"}),
    columns={"email": "email", "e_mail": "email", "email_address": "email", "name": "name",
             "first_name": "first_name", "last_name": "last_name", "country": "country",
             "language": "language"},
)

FORMATS = (MAILCHIMP, LISTMONK, SENDY, SUBSTACK, GENERIC)


# A file no format claims, read by the columns the marketer mapped (the import page's step).
MAPPED = Format(name="mapped CSV", signature=frozenset(), columns={})

# What a column can be mapped to, and how the import page names each choice.
MAPPABLE = {"email": "Email address", "name": "Name", "first_name": "First name",
            "last_name": "Last name", "country": "Country (ISO code)", "language": "Language",
            "consent_time": "Consent time", "consent_ip": "Consent IP", "attribute": "Attribute",
            "ignore": "Ignore"}


@dataclass(frozen=True)
class Layout:
    """A header row read against a format: where each role and attribute is."""

    format: Format
    roles: dict[str, list[int]]  # role -> column positions, in file order
    attributes: list[tuple[int, str]]  # (position, attribute name)
    skips: list[tuple[int, str, frozenset[str] | None]]  # (position, column, values)
    width: int = 0  # a mapping's number of columns (0: any): the file must have as many


class UnknownLayout(ValueError):
    """No address column in the header row."""


class MappingError(ValueError):
    """The columns as mapped cannot be imported; the message names the column."""


def detect(header: list[str]) -> Layout:
    """The layout of a file from its header row; UnknownLayout when there is no address column.

    >>> detect(["Email Address", "First Name", "OPTIN_TIME", "Plan"]).format.name
    'Mailchimp'
    >>> detect(["email", "Plan"]).attributes
    [(1, 'plan')]
    """
    names = [name_from_header(h) for h in header]
    present = set(names)
    chosen = next((f for f in FORMATS if f.signature <= present), None)
    if chosen is None:
        chosen = GENERIC
    roles: dict[str, list[int]] = {}
    attributes: list[tuple[int, str]] = []
    seen: set[str] = set()
    for position, name in enumerate(names):
        if not name or name in seen:
            continue  # a nameless or repeated column: the first one counts
        seen.add(name)
        role = chosen.columns.get(name)
        if role is not None:
            roles.setdefault(role, []).append(position)
        elif name not in chosen.ignored and name not in chosen.skip_when:
            attributes.append((position, name))
    if "email" not in roles:
        raise UnknownLayout(
            "the first line must name the columns, one of them 'email' (or a known export: "
            + ", ".join(f.name for f in FORMATS if f is not GENERIC) + ")")
    skips = [(names.index(column), column, values) for column, values in chosen.skip_when.items()
             if column in present]
    return Layout(chosen, roles, attributes, skips)


def skip_reason(layout: Layout, row: list[str]) -> str | None:
    """Why this row is somebody who left (or never confirmed) in the tool, or None."""
    for position, column, values in layout.skips:
        value = row[position].strip().lower() if position < len(row) else ""
        if value and (values is None or value in values):
            return f"{column}={value}"
    return None


def mapped(header: list[str], choices: list[tuple[str, str]]) -> Layout:
    """The layout the marketer chose: per column a MAPPABLE key and, for "attribute", a name.
    MappingError unless exactly one column is the address and every attribute name is valid.

    >>> mapped(["Mail", "Seats"], [("email", ""), ("attribute", "seats")]).attributes
    [(1, 'seats')]
    """
    if len(choices) != len(header):
        raise MappingError(f"the file has {len(header)} columns but {len(choices)} were mapped")
    roles: dict[str, list[int]] = {}
    attributes: list[tuple[int, str]] = []
    for position, (role, name) in enumerate(choices):
        column = f"column {position + 1} ({header[position].strip()[:40]!r})"
        if role not in MAPPABLE:
            raise MappingError(f"{column}: choose what it holds")
        if role == "ignore":
            continue
        if role != "attribute":
            roles.setdefault(role, []).append(position)
            continue
        name = name.strip()
        if not NAME.match(name):
            raise MappingError(f"{column}: an attribute name is lower-case letters, digits and _, "
                               f"starting with a letter (at most 64): {name[:70]!r}")
        if any(name == taken for _, taken in attributes):
            raise MappingError(f"{column}: the attribute {name!r} is already mapped to another "
                               "column")
        attributes.append((position, name))
    emails = len(roles.get("email", []))
    if emails != 1:
        raise MappingError(f"exactly one column must be the email address ({emails} chosen)")
    return Layout(MAPPED, roles, attributes, [], width=len(header))


def guess(header: list[str], rows: list[list[str]] = ()) -> list[tuple[str, str]]:
    """A first mapping to show: our own column names where they fit, an attribute named after
    the header otherwise, "ignore" for a column without a usable name; with no column named
    like an address, the first where most sample values hold an "@" is the address.

    >>> guess(["Adresse", "Tarif"], [["ada@example.org", "pro"]])
    [('email', ''), ('attribute', 'tarif')]
    """
    result = []
    for column in header:
        name = name_from_header(column)
        role = GENERIC.columns.get(name)
        if role in MAPPABLE:
            result.append((role, ""))
        elif name:
            result.append(("attribute", name))
        else:
            result.append(("ignore", ""))
    if rows and not any(role == "email" for role, _ in result):
        for position in range(len(header)):
            values = [row[position] for row in rows if position < len(row)]
            # Most, not all: the bad row a dry run should report may be among the first.
            if sum("@" in value for value in values) * 2 > len(rows):
                result[position] = ("email", "")
                break
    return result
