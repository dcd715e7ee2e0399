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
    from newsletter import mailer
    from newsletter.transport import transport_from_config

    transport = transport_from_config(app.config)
    try:
        mailer.send_queued(db.session, transport, utcnow())
    finally:
        transport.close()


def jobs(app: Flask) -> list[Job]:
    """Every periodic job of the service."""
    return [
        Job("transactional-mail", send_transactional_mail, 10),
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


def start(app: Flask, blocking: bool = False):
    """Start the scheduler with every job; returns it (or blocks when `blocking`)."""
    if not app.config.get("NEWSLETTER_RUN_SCHEDULER", True):
        return None
    scheduler = BlockingScheduler() if blocking else BackgroundScheduler(daemon=True)
    for job in jobs(app):
        scheduler.add_job(
            _run, "interval", seconds=job.seconds, args=(app, job), id=job.id,
            max_instances=1, coalesce=True, next_run_time=utcnow(),
        )
    scheduler.start()
    return scheduler
