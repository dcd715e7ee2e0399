"""APScheduler set-up and the periodic jobs. Exactly one scheduler is active per deployment.

Each job is a plain function `job(app)`; it opens its own app context and session. The jobs
only call domain functions (STYLE.md example 11).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from newsletter.extensions import db
from newsletter.models import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A periodic job: what to run and how often."""

    id: str
    func: Callable[[Flask], object]
    seconds: int


def send_transactional_mail(app: Flask) -> None:
    """Send queued confirmations and notices that the request path could not send."""
    from newsletter.sending import mailer

    mailer.send_committed(db.session, app.config, None, utcnow())


def dispatch_campaigns(app: Flask) -> None:
    """Spawn recurring occurrences, queue due campaigns, close the finished ones."""
    from newsletter.sending import campaigns

    campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], utcnow())


def purge_send_windows(app: Flask) -> None:
    """Forget the rate limiter's finished windows."""
    from newsletter.sending import ratelimit

    ratelimit.purge_windows(db.session, utcnow())


def poll_inbound(app: Flask) -> None:
    """Read the reply mailbox once (replies, bounces, complaints), when one is configured."""
    if not app.config.get("NEWSLETTER_INBOUND"):
        return
    from newsletter.inbound.poll import poll

    log.info("inbound: %s", poll(db.session, app.config).summary())


def enforce_retention(app: Flask) -> None:
    """One retention pass: unconfirmed sign-ups, inbound and sent mail bytes, delivery details,
    people who left long ago, consent IPs, closed privacy requests (privacy/retention.py)."""
    from newsletter.privacy import retention

    removed = retention.run(db.session, utcnow(), app.config)
    db.session.commit()
    if any(removed.values()):
        log.info("retention: %s", removed)


def sweep_policy_notices(app: Flask) -> None:
    """Queue a standalone notice for whoever still owes one past the deadline (idempotent: a
    notice is completed in the same transaction as its queued mail)."""
    from newsletter.privacy import policy

    policy.sweep(db.session, app.config, utcnow())


def tell_purpose_newcomers(app: Flask) -> None:
    """Tell those who became active subscribers since a purpose was announced (idempotent: one
    PurposeNotice per person and purpose, written with the queued mail)."""
    from newsletter.privacy import purposes
    purposes.tell_newcomers(db.session, app.config, utcnow())


def send_webhooks(app: Flask) -> None:
    """POST queued event webhooks that are due (integrations/webhooks.py; retried with backoff)."""
    from newsletter.integrations import webhooks

    webhooks.send_due(db.session, app.config, utcnow())


def seal_audit_trail(app: Flask) -> None:
    """Chain the audit rows committed since the last run (privacy/audit.py `seal()`)."""
    from newsletter.privacy import audit

    audit.seal(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"])
    db.session.commit()


def jobs(app: Flask) -> list[Job]:
    """Every periodic job of the service."""
    return [
        Job("transactional-mail", send_transactional_mail, 10),
        Job("retention", enforce_retention, 3600),
        Job("dispatch-campaigns", dispatch_campaigns, 5),
        Job("purge-send-windows", purge_send_windows, 600),
        Job("inbound-poll", poll_inbound, app.config.get("NEWSLETTER_INBOUND_POLL_SECONDS", 60)),
        Job("policy-sweep", sweep_policy_notices, 300),
        Job("purpose-newcomers", tell_purpose_newcomers, 300),
        Job("audit-seal", seal_audit_trail, 60),
        Job("webhooks", send_webhooks, 10),
    ]


def _run(app: Flask, job: Job) -> None:
    with app.app_context():
        try:
            job.func(app)
        except Exception:  # a failing job must not kill the scheduler; it runs again next time
            log.exception("scheduled job %s failed", job.id)
            db.session.rollback()
        finally:
            db.session.remove()


LEADERSHIP_SECONDS = 10  # how often a standby tries to take over (well within a minute)


def _add_jobs(scheduler, app: Flask) -> None:
    for job in jobs(app):
        scheduler.add_job(
            _run, "interval", seconds=job.seconds, args=(app, job), id=job.id,
            max_instances=1, coalesce=True, next_run_time=utcnow(),
        )


def _leadership(scheduler, app: Flask, lock) -> None:
    """Run the jobs while this process holds the lock; stand by otherwise."""
    ids = [job.id for job in jobs(app)]
    leading = scheduler.get_job(ids[0]) is not None
    if leading and not lock.still_held():
        for job_id in ids:
            if scheduler.get_job(job_id) is not None:
                scheduler.remove_job(job_id)
        log.warning("scheduler: standing by (lock lost)")
    elif not leading and lock.try_acquire():
        _add_jobs(scheduler, app)


def start(app: Flask, blocking: bool = False):
    """Start the scheduler; it runs the jobs only while it is the leader (see leader.py)."""
    if not app.config.get("NEWSLETTER_RUN_SCHEDULER", True):
        return None
    from newsletter.leader import LeaderLock

    scheduler = BlockingScheduler() if blocking else BackgroundScheduler(daemon=True)
    with app.app_context():
        lock = LeaderLock(db.engine.url)
    scheduler.add_job(
        _leadership, "interval", seconds=LEADERSHIP_SECONDS, args=(scheduler, app, lock),
        id="leadership", max_instances=1, coalesce=True, next_run_time=utcnow(),
    )
    scheduler.start()
    return scheduler
