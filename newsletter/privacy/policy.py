"""Privacy-policy versions and the notices owed about a material change (DESIGN.md 4, "Policy
change").

publish -> (material) one owed PolicyNotice per active subscriber -> the next newsletter each one
receives carries a notice block and its "sent" mark completes the row (sending/store.py) -> at
the deadline `sweep` mails whoever still owes one a standalone notice, once.

A published version is never edited (models/privacy.py refuses an UPDATE): a correction is a new
version, because consent events and notices point at the exact text people were shown.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import markdown as markdown_lib
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from newsletter import links
from newsletter.i18n import in_language, long_date
from newsletter.models import PolicyNotice, PolicyVersion, Subscriber
from newsletter.privacy import audit, consent
from newsletter.sending import compose, eligibility, mailer

NEWSLETTER = "newsletter"  # PolicyNotice.how: the block at the top of a newsletter
STANDALONE = "standalone"  # PolicyNotice.how: a mail of its own at the deadline
SWEEP_BATCH = 500


class PolicyError(ValueError):
    """A version cannot be published as asked; the message says why."""


# --- publishing ---------------------------------------------------------------------------------


def publish(session: Session, *, body: str, summary: str, material: bool, now: datetime,
            config: Mapping, actor: str, effective_at: datetime | None = None,
            deadline: datetime | None = None) -> PolicyVersion:
    """Publish a new version; a material one makes every active subscriber owe a notice."""
    effective_at, deadline = _step_check(body, summary, now, config, effective_at, deadline)
    version = _step_add_version(session, body, summary, material, now, effective_at, deadline,
                                actor)
    owed = _step_owe_notices(session, version) if material else 0
    audit.record(session, actor=actor, action="policy.publish", subject_type="policy_version",
                 subject_id=version.id, now=now,
                 detail={"version": version.version, "material": material, "owed": owed})
    return version


def _step_check(body: str, summary: str, now: datetime, config: Mapping,
                effective_at: datetime | None, deadline: datetime | None):
    if not body.strip():
        raise PolicyError("the policy text is empty")
    if not summary.strip():
        raise PolicyError("say in a summary what changed (it is what the notice tells people)")
    effective_at = effective_at or now
    if effective_at < now - timedelta(minutes=1):
        raise PolicyError(f"the effective date {effective_at:%Y-%m-%d %H:%M} UTC is in the past: "
                          "a policy cannot take effect before it is published")
    deadline = deadline or now + timedelta(days=int(config.get("NEWSLETTER_POLICY_NOTICE_DAYS", 30)))
    if deadline < now:
        raise PolicyError(f"the notice deadline {deadline:%Y-%m-%d %H:%M} UTC is before "
                          "publication: nobody could be told in time")
    return effective_at, deadline


def _step_add_version(session: Session, body: str, summary: str, material: bool, now: datetime,
                      effective_at: datetime, deadline: datetime, actor: str) -> PolicyVersion:
    # Labels count up; two publishers at once collide on the unique label, and one retries.
    count = session.scalar(select(func.count(PolicyVersion.id))) or 0
    version = PolicyVersion(version=str(count + 1), published_at=now, effective_at=effective_at,
                            material=material, summary=summary.strip(), body=body,
                            notice_deadline=deadline, published_by=actor)
    session.add(version)
    session.flush()
    return version


def _step_owe_notices(session: Session, version: PolicyVersion) -> int:
    """One owed row per active subscriber, in one INSERT ... SELECT (never all in memory)."""
    owed = select(Subscriber.id, literal(version.id)).where(eligibility.active())
    return session.execute(insert(PolicyNotice).from_select(
        ["subscriber_id", "policy_version_id"], owed)).rowcount or 0


# --- reading ------------------------------------------------------------------------------------


def versions(session: Session) -> list[PolicyVersion]:
    """Every published version, newest first."""
    return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.id.desc())))


def in_force(session: Session, now: datetime) -> PolicyVersion | None:
    """The version in force at `now` (the one consent events record)."""
    version_id = consent.current_policy_version_id(session, now)
    return None if version_id is None else session.get(PolicyVersion, version_id)


def render_body(body: str) -> Markup:
    """The policy's Markdown as sanitised HTML (the same cleaner as campaign mail)."""
    return Markup(compose.sanitise(markdown_lib.markdown(body, extensions=["extra", "sane_lists"])))


@dataclass(frozen=True)
class DiffLine:
    """One line of a readable diff: kind is added, removed, context or hunk."""

    kind: str
    text: str


def diff(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """What changed between two policy texts, line by line (the page escapes every line).

    >>> [(d.kind, d.text) for d in diff("a\\nb\\n", "a\\nc\\n")][1:]
    [('context', 'a'), ('removed', 'b'), ('added', 'c')]
    """
    kinds = {"+": "added", "-": "removed", " ": "context", "@": "hunk"}
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), n=context, lineterm="")
    return [DiffLine(kinds[line[0]], line[1:] if line[0] != "@" else line)
            for line in lines if line and not line.startswith(("---", "+++"))]


def stats(session: Session) -> dict[int, dict[str, int]]:
    """Per version: told in a newsletter, by standalone mail, still owed (active subscribers),
    and owed by people no longer subscribed (they get nothing more)."""
    result: dict[int, dict[str, int]] = {}
    rows = session.execute(
        select(PolicyNotice.policy_version_id, PolicyNotice.how,
               eligibility.active().label("active"), func.count())
        .join(Subscriber, Subscriber.id == PolicyNotice.subscriber_id)
        .group_by(PolicyNotice.policy_version_id, PolicyNotice.how, "active"))
    for version_id, how, active, count in rows:
        counts = result.setdefault(version_id, {NEWSLETTER: 0, STANDALONE: 0, "owed": 0,
                                                "gone": 0})
        key = how if how is not None else ("owed" if active else "gone")
        counts[key] += count
    return result


# --- the notice ---------------------------------------------------------------------------------


def notice_texts(config: Mapping, version_id: int, label: str, summary: str,
                 effective_at: datetime, language: str | None = None) -> tuple[str, str]:
    """The notice as (HTML, text): the summary and a link to the version, in `language` (the
    summary stays as written). Inside a newsletter, the language of the newsletter's footer
    (the reader's, else the list's: sending/footer.py)."""
    url = links.policy_url(config, version_id)
    with in_language(language):
        changed = _("Our privacy policy has changed")
        when = long_date(effective_at)
        version = _("version %(label)s, in force from %(date)s", label=label, date=when)
        read = _("Read the new policy and what changed")
    html = (f'<div class="policy-notice"><p><strong>{escape(changed)}</strong> '
            f"({escape(version)}).</p><p>{escape(summary)}</p>"
            f'<p><a href="{escape(url)}">{escape(read)}</a></p></div><hr>')
    text = f"{changed} ({version}).\n{summary}\n{read}: {url}\n\n"
    return html, text


class NoticeBlocks:
    """The worker's `compose.NoticeHook`: a block for a recipient who owes a notice (the latest
    version they owe, read in the eligibility check), each version read once."""

    def __init__(self, config: Mapping, session: Session):
        self.config, self.session = config, session
        self._blocks: dict[tuple[int, str | None], compose.NoticeBlock] = {}

    def __call__(self, recipient: compose.Recipient,
                 language: str | None = None) -> compose.NoticeBlock | None:
        version_id = recipient.notice_version_id
        if version_id is None:
            return None
        key = (version_id, language)
        if key not in self._blocks:
            row = self.session.execute(select(
                PolicyVersion.version, PolicyVersion.summary, PolicyVersion.effective_at,
            ).where(PolicyVersion.id == version_id)).one()
            self._blocks[key] = compose.NoticeBlock(*notice_texts(
                self.config, version_id, row.version, row.summary, row.effective_at, language))
        return self._blocks[key]


# --- the deadline -------------------------------------------------------------------------------


def sweep(session: Session, config: Mapping, now: datetime) -> int:
    """Mail a standalone notice to each active subscriber who still owes one whose deadline has
    passed, naming the latest version they owe; returns how many were queued.

    A unit of work: commits per batch. Each subscriber's rows are completed by a conditional
    UPDATE (still owed?) in the same transaction as the queued mail, so a second sweep, or a
    second scheduler running at the same moment (its UPDATE waits for our row locks and then
    finds nothing owed), queues nothing again.
    """
    queued = 0
    while True:
        due = list(session.execute(
            select(PolicyNotice.subscriber_id, Subscriber.email,
                   func.max(PolicyNotice.policy_version_id))
            .join(Subscriber, Subscriber.id == PolicyNotice.subscriber_id)
            .join(PolicyVersion, PolicyVersion.id == PolicyNotice.policy_version_id)
            .where(PolicyNotice.delivered_at.is_(None), PolicyVersion.notice_deadline <= now,
                   eligibility.active())
            .group_by(PolicyNotice.subscriber_id, Subscriber.email)
            .order_by(PolicyNotice.subscriber_id).limit(SWEEP_BATCH)))
        if not due:
            return queued
        for subscriber_id, email, _latest in due:
            queued += _notify_alone(session, config, subscriber_id, email, now)
        session.commit()


def _notify_alone(session: Session, config: Mapping, subscriber_id: int, email: str,
                  now: datetime) -> int:
    latest = session.scalar(select(func.max(PolicyNotice.policy_version_id)).where(
        PolicyNotice.subscriber_id == subscriber_id, PolicyNotice.delivered_at.is_(None)))
    if latest is None:  # another sweeper committed this person's rows after our batch was read
        return 0
    completed = session.execute(update(PolicyNotice).where(
        PolicyNotice.subscriber_id == subscriber_id, PolicyNotice.delivered_at.is_(None),
        PolicyNotice.policy_version_id <= latest,
    ).values(how=STANDALONE, delivered_at=now)).rowcount
    if not completed:  # another sweeper or a newsletter got there first
        return 0
    version = session.get(PolicyVersion, latest)
    language = session.scalar(select(Subscriber.language).where(Subscriber.id == subscriber_id))
    html, text = notice_texts(config, version.id, version.version, version.summary,
                              version.effective_at, language)
    with in_language(language):
        subject = _("Our privacy policy has changed")
    mail = mailer.build_message(config, to=email, subject=subject,
                                text=text, html=html, now=now, subscriber_id=subscriber_id)
    mailer.queue(session, kind="policy-notice", mail=mail, now=now)
    return 1
