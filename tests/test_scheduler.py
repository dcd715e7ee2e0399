"""The scheduler: recurring occurrences across daylight-saving changes (frozen clock), and
exactly one active scheduler per deployment (PostgreSQL advisory lock)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from campaign_support import make_list, new_campaign
from sqlalchemy import select

from newsletter import scheduler
from newsletter.extensions import db
from newsletter.leader import LeaderLock
from newsletter.models import Campaign, CampaignStatus
from newsletter.sending import campaigns

BERLIN = ZoneInfo("Europe/Berlin")


def run_clock(app, start: datetime, end: datetime, step: timedelta) -> None:
    """Call the dispatcher as the scheduler would, with a frozen clock moved by hand."""
    key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
    now = start
    while now <= end:
        campaigns.dispatch_due_campaigns(db.session, key, now)
        now += step


def occurrences(series_id: int) -> list[datetime]:
    return [c.occurrence_at.astimezone(BERLIN) for c in db.session.scalars(
        select(Campaign).where(Campaign.parent_id == series_id).order_by(Campaign.occurrence_at))]


@pytest.mark.parametrize("start,days", [
    (datetime(2026, 3, 27, 12, tzinfo=UTC), 4),   # spring forward: 2026-03-29 02:00 -> 03:00
    (datetime(2026, 10, 23, 12, tzinfo=UTC), 4),  # fall back: 2026-10-25 03:00 -> 02:00
])
def test_daily_occurrence_fires_once_per_day_across_dst(app, start, days):
    with app.app_context():
        news = make_list(db.session)
        series = new_campaign(db.session, news, subject="Daily", cron="30 2 * * *",
                              timezone="Europe/Berlin")
        series = campaigns.make_recurring(series, "30 2 * * *", "Europe/Berlin", start)
        db.session.commit()
        run_clock(app, start, start + timedelta(days=days), timedelta(minutes=20))
        fired = occurrences(series.id)
        local_days = [o.date() for o in fired]
        assert len(local_days) == len(set(local_days)) == days  # one per day: no skip, no double
        for moment in fired:
            # 02:30 local, or 03:30 on the spring-forward day when 02:30 does not exist.
            assert (moment.hour, moment.minute) in ((2, 30), (3, 30))
        spring = [o for o in fired if o.date().isoformat() == "2026-03-29"]
        if spring:
            assert (spring[0].hour, spring[0].minute) == (3, 30)
        # Each occurrence is its own campaign, sent on its own.
        children = db.session.scalars(select(Campaign).where(Campaign.parent_id == series.id)).all()
        assert {c.status for c in children} <= {CampaignStatus.sending, CampaignStatus.sent}
        assert all(c.send_at == c.occurrence_at for c in children)


def test_hourly_occurrence_across_fall_back_fires_once_per_wall_clock_hour(app):
    start = datetime(2026, 10, 24, 21, 30, tzinfo=UTC)  # 23:30 local, the evening before
    with app.app_context():
        news = make_list(db.session)
        series = new_campaign(db.session, news, subject="Hourly", cron="0 * * * *",
                              timezone="Europe/Berlin")
        db.session.commit()
        run_clock(app, start, start + timedelta(hours=26), timedelta(minutes=10))
        on_the_day = [o for o in occurrences(series.id) if o.date().isoformat() == "2026-10-25"]
        assert [o.hour for o in on_the_day] == list(range(24))


def test_running_the_dispatcher_twice_spawns_an_occurrence_once(app):
    start = datetime(2026, 5, 4, 7, 0, tzinfo=UTC)
    with app.app_context():
        news = make_list(db.session)
        series = new_campaign(db.session, news, subject="Weekly", cron="0 9 * * 1",
                              timezone="Europe/Berlin")
        series = campaigns.make_recurring(series, "0 9 * * 1", "Europe/Berlin", start)
        db.session.commit()
        due = datetime(2026, 5, 4, 7, 1, tzinfo=UTC)  # 09:01 local on a Monday
        key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
        campaigns.dispatch_due_campaigns(db.session, key, due)
        # A second scheduler that still sees the old next_occurrence_at gets a unique violation.
        db.session.execute(Campaign.__table__.update().where(Campaign.id == series.id)
                           .values(next_occurrence_at=datetime(2026, 5, 4, 7, 0, tzinfo=UTC)))
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, key, due)
        assert len(occurrences(series.id)) == 1


def test_bad_cron_or_timezone_is_refused(app):
    with app.app_context():
        news = make_list(db.session)
        for cron, tz in (("61 * * * *", "UTC"), ("* * *", "UTC"), ("0 9 * * 1", "Mars/Olympus")):
            with pytest.raises(campaigns.CampaignError):
                new_campaign(db.session, news, cron=cron, timezone=tz)
            db.session.rollback()


@pytest.fixture
def pg_app(app):
    """Advisory locks are PostgreSQL's; on SQLite one process schedules (tests using this fixture
    are marked postgresql_only)."""
    return app


@pytest.mark.postgresql_only
def test_advisory_lock_admits_one_leader_and_frees_on_release(pg_app):
    with pg_app.app_context():
        url = db.engine.url
    first, second = LeaderLock(url), LeaderLock(url)
    try:
        assert first.try_acquire() and first.still_held()
        assert not second.try_acquire()
        first.release()
        assert second.try_acquire()
    finally:
        first.release()
        second.release()


@pytest.mark.postgresql_only
def test_standby_takes_over_when_the_active_scheduler_is_killed(pg_app, smtp, tmp_path):
    from sending.test_worker_kill import REPO, worker_env

    with pg_app.app_context():
        url = db.engine.url
    env = worker_env(pg_app, smtp.port)
    env["NEWSLETTER_RUN_SCHEDULER"] = "true"
    leader = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "newsletter",
                               "scheduler"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    standby = LeaderLock(url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _lock_taken(url):
            time.sleep(0.1)
        assert _lock_taken(url), "the scheduler process never took the lock"
        assert not standby.try_acquire()
        leader.send_signal(signal.SIGKILL)
        leader.wait(timeout=10)
        # A standby retries every LEADERSHIP_SECONDS; here we retry at the same pace.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not standby.try_acquire():
            time.sleep(scheduler.LEADERSHIP_SECONDS / 10)
        assert standby.held
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait(timeout=10)
        standby.release()


def _lock_taken(url) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")).scalar())
    finally:
        engine.dispose()
