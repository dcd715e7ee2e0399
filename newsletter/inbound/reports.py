"""Machine reports: delivery failures (RFC 3464 DSNs and the rest) and complaints (RFC 5965 ARF).

Pure functions over a parsed `email.message.EmailMessage`: they read what a report says (who
failed, the enhanced status, the SMTP reply, the DSN action). What that means for the address
is decided in one place, newsletter/subscribers/bounces.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.message import Message

from newsletter.inbound.mime import find_parts, header, parts

# What a failure report looks like before we spend flufl.bounce's time on it.
FAILURE_SENDERS = re.compile(r"mailer-daemon|post_?master|mail delivery|mail.delivery|"
                             r"mailerdaemon|bounce|noreply-dmarc|mmdf|daemon@", re.I)
FAILURE_SUBJECTS = re.compile(
    r"undeliver|delivery (status|failure|notification|has failed|problem|warning)|mail failure|"
    r"failure notice|returned mail|mail delivery failed|delivery failed|not delivered|nondeliverable|"
    r"non-deliverable|could not be delivered|warning: message|delayed mail|mail system error|"
    r"rejected|fail(ed|ure)? (to )?deliver|undelivered|returned to sender|message status|"
    r"\u4e0d\u9054|\u914d\u9001\u4e0d\u80fd|\u30a8\u30e9\u30fc",  # 不達, 配送不能, エラー
    re.I,
)
STATUS_CODE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# The SMTP reply code a diagnostic starts with ("smtp; 550 5.1.1 ...", RFC 3464 2.3.6).
REPLY_CODE = re.compile(r"^(?:smtp;\s*)?([245]\d\d)(?![\d.])", re.IGNORECASE)
SMTP_REPLY = re.compile(r"(?<![\d.])([45])\d\d[ -](?:[#(]?([245]\.\d{1,3}\.\d{1,3}))?")


@dataclass
class FailureReport:
    """What a delivery failure says: who failed, with which status, and how it reads."""

    recipients: list[str] = field(default_factory=list)
    status: str | None = None
    diagnostic: str = ""
    reply_code: int | None = None  # of the diagnostic, when it quotes an SMTP reply
    action: str | None = None  # RFC 3464 Action of the reported recipient (failed, delayed)


@dataclass
class ComplaintReport:
    """An abuse report: the recipient that complained, if the report names one."""

    recipients: list[str] = field(default_factory=list)
    feedback_type: str = ""


def report_type(message: Message) -> str:
    """The report-type parameter of a multipart/report, lower-cased ('' otherwise)."""
    if parts(message)[0][1] != "multipart/report":
        return ""
    return str(message.get_param("report-type", "") or "").lower()


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):
        # Some reports are sent base64 or with a charset; parse the text as header blocks.
        from email import message_from_string, policy

        text = part.get_payload(decode=True) or b""
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        return [message_from_string(block.strip() + "\n", policy=policy.compat32)
                for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if block.strip()]
    return []


def _address(value: object) -> str:
    """'rfc822; user@example.org' -> 'user@example.org'."""
    text = str(value or "").strip()
    if ";" in text:
        text = text.split(";", 1)[1]
    return text.strip().strip("<>").strip()


def read_dsn(message: Message) -> FailureReport | None:
    """Read an RFC 3464 delivery-status part; None if the message has none."""
    parts = find_parts(message, "message/delivery-status")
    if not parts:
        return None
    report = FailureReport()
    worst: tuple[int, str] | None = None
    for block in (b for part in parts for b in _field_blocks(part)):
        action = str(block.get("Action", "") or "").strip().lower()
        status = str(block.get("Status", "") or "").strip()
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "") or "").split())
        recipient = _address(block.get("Final-Recipient") or block.get("Original-Recipient"))
        match = STATUS_CODE.search(status)
        code = match.group(0) if match else ""
        # A diagnostic often carries a more precise code than a generic Status (5.0.0).
        diag_code = STATUS_CODE.search(diagnostic)
        if diag_code and (not code or code.endswith(".0.0")) and code[:1] in ("", diag_code.group(1)):
            code = diag_code.group(0)
        if not (code or recipient) or action in ("delivered", "relayed", "expanded"):
            continue  # the per-message block (Reporting-MTA, Arrival-Date), or a success
        if recipient:
            report.recipients.append(recipient)
        rank = 2 if code.startswith("5") else 1
        if worst is None or rank > worst[0]:
            worst = (rank, code)
            report.diagnostic = diagnostic
            report.action = action or None
            reply = REPLY_CODE.match(diagnostic)
            report.reply_code = int(reply.group(1)) if reply else None
    if worst is None:
        return None  # a delivery-status part that reports nothing: read it as plain text
    report.status = worst[1] or None
    return report


def looks_like_failure(message: Message, sender: str, subject: str) -> bool:
    """Cheap test run before flufl.bounce: sender or subject of a bounce, or a report part."""
    if report_type(message) == "delivery-status" or find_parts(message, "message/delivery-status"):
        return True
    if FAILURE_SENDERS.search(sender or "") or FAILURE_SENDERS.search(header(message, "From")):
        return True
    return bool(FAILURE_SUBJECTS.search(subject or ""))


# Where a non-standard bounce starts quoting the original message: its headers say nothing
# about the failure (a "Received: ... v4.6.1" is not a status code).
ORIGINAL_FOLLOWS = re.compile(
    r"^\s*(-{2,}.*(copy|original|returned|message follows|undelivered message)|"
    r"the (first \d+ lines|original message|text of your message)|>\s*received:|"
    r"received: from |return-path:)", re.IGNORECASE | re.MULTILINE)


def failure_text(text: str) -> str:
    """The explanation part of a bounce: everything before the returned original."""
    match = ORIGINAL_FOLLOWS.search(text)
    return text[:match.start()] if match else text


def find_phrase(text: str, phrases: tuple[str, ...]) -> str | None:
    """The first phrase (lower-case substring) found in the text."""
    lowered = " ".join(text.lower().split())
    return next((p for p in phrases if p in lowered), None)


def read_failure_text(text: str) -> FailureReport:
    """Status codes and diagnostic phrases from the human-readable part of a bounce."""
    text = failure_text(text)
    report = FailureReport(diagnostic=" ".join(text.split())[:4000])
    codes = [m.group(0) for m in STATUS_CODE.finditer(text)]
    if not codes:
        codes = [f"{m.group(1)}.0.0" for m in SMTP_REPLY.finditer(text)]
    five = [c for c in codes if c.startswith("5")]
    if five:
        specific = [c for c in five if not c.endswith(".0.0")]
        report.status = (specific or five)[0]
    elif codes:
        report.status = codes[0]
    return report


def read_arf(message: Message) -> ComplaintReport | None:
    """Read an RFC 5965 feedback report; None if the message is not one."""
    parts = find_parts(message, "message/feedback-report")
    if not parts and report_type(message) != "feedback-report":
        return None
    report = ComplaintReport()
    for block in (b for part in parts for b in _field_blocks(part)):
        report.feedback_type = report.feedback_type or str(block.get("Feedback-Type", "") or "")
        for value in block.get_all("Original-Rcpt-To") or []:
            address = _address(value)
            if "<" in address:
                address = address.rsplit("<", 1)[1].strip(">")
            if address:
                report.recipients.append(address)
    return report


def read_ses_notification(text: str) -> tuple[str, list[str], str] | None:
    """Amazon SES/SNS JSON notifications: (type, recipients, bounce type) or None."""
    start = text.find("{")
    if start < 0 or '"notificationType"' not in text:
        return None
    try:
        data, _ = json.JSONDecoder().raw_decode(text[start:].replace("!\n ", ""))
    except ValueError:
        return None
    if isinstance(data.get("Message"), str):  # SNS envelope around the SES document
        try:
            data = json.loads(data["Message"])
        except ValueError:
            return None
    kind = str(data.get("notificationType", ""))
    if kind == "Complaint":
        people = data.get("complaint", {}).get("complainedRecipients", [])
        return kind, [str(p.get("emailAddress", "")) for p in people], ""
    if kind == "Bounce":
        bounce = data.get("bounce", {})
        people = bounce.get("bouncedRecipients", [])
        return kind, [str(p.get("emailAddress", "")) for p in people], str(
            bounce.get("bounceType", "") + "/" + bounce.get("bounceSubType", ""))
    return None


def read_microsoft_jmrp(message: Message) -> ComplaintReport | None:
    """Outlook.com/Hotmail's junk-mail reports are not ARF: they return the message with an
    X-HmXmrOriginalRecipient header (at the top or inside the attached copy)."""
    for part in [message] + [p.get_payload(0) for p in find_parts(message, "message/rfc822")
                             if isinstance(p.get_payload(), list) and p.get_payload()]:
        value = header(part, "X-HmXmrOriginalRecipient")
        if value:
            return ComplaintReport(recipients=[value.strip("<> ")],
                                           feedback_type="microsoft-jmrp")
    return None
