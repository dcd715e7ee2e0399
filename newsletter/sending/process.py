"""The process around a delivery worker: its own database session and the run loop.

`run_worker` is what `flask newsletter worker` and `serve` start; the worker itself
(sending/worker.py) only sees a session, a store and a transport.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from sqlalchemy import create_engine, event, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from newsletter.extensions import db
from newsletter.models import utcnow
from newsletter.sending import campaigns, mailer
from newsletter.sending.pipelining import campaign_transport
from newsletter.sending.worker import IDLE_SECONDS, DeliveryWorker

log = logging.getLogger(__name__)


def _worker_session(app: Flask) -> Session:
    """The worker's own session; on PostgreSQL its commits do not wait for the WAL flush.

    synchronous_commit=off: a commit returns before the WAL reaches disk. A crash of the
    *worker* loses nothing (the server has the commit); a crash of the *database server* may
    forget the last fraction of a second of "sent" marks, and those messages are sent again.
    That keeps DESIGN.md's promise (at most the in-flight messages are repeated) at the cost of
    a few more in the rare server crash, and it is what lets a worker mark each message sent in
    its own commit at full SMTP speed.
    """
    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_size=1, pool_pre_ping=True,
                               connect_args={"options": "-c synchronous_commit=off"})
        return Session(engine)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # SQLite's answer to the same trade-off: WAL with synchronous=NORMAL commits without an
        # fsync (durable against a crash of any process, not against power loss), and readers
        # (the web app) no longer block the worker's writes. WAL is a property of the file, so
        # every process profits once a worker has started.
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return Session(engine)
    return Session(db.engine)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _reset_after_database_error(session: Session, worker: DeliveryWorker) -> None:
    try:
        session.rollback()
    except SQLAlchemyError:
        pass
    try:
        worker.close()
    except SQLAlchemyError:
        worker._store = None


def connections_for(app: Flask) -> int:
    """How many SMTP connections (lanes) one worker process runs: NEWSLETTER_WORKER_CONNECTIONS,
    by default 4 on PostgreSQL and 1 elsewhere (SQLite serialises writers, so more lanes there
    only wait on each other's commits)."""
    configured = app.config.get("NEWSLETTER_WORKER_CONNECTIONS")
    if configured:
        return max(1, int(configured))
    backend = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    return 4 if backend == "postgresql" else 1


def run_worker(app: Flask, stop: threading.Event, once: bool = False) -> int:
    """Send until `stop` is set (or until nothing is due with `once`); returns how many were sent.

    The process runs `connections_for(app)` lanes, each a thread with its own DeliveryWorker,
    database connection and SMTP connection, claiming its own batches. One lane waiting for the
    server's reply or the database's lets another render and send: that is where the time of a
    single lane goes (DESIGN.md section 4, "Send"). Each lane keeps the crash promise on its own
    connection (one message in flight, marked sent before the next is sent), so a killed process
    re-sends at most one message per connection.
    """
    lanes = connections_for(app)
    totals = [0] * lanes
    errors: list[BaseException] = []

    def lane(index: int) -> None:
        try:
            totals[index] = _run_lane(app, stop, once, outbox=index == 0)
        except BaseException as exc:  # a --once run must fail loudly, whichever lane failed
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=lane, args=(i,), name=f"delivery-lane-{i}", daemon=True)
               for i in range(1, lanes)]
    for thread in threads:
        thread.start()
    lane(0)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(totals)


def _run_lane(app: Flask, stop: threading.Event, once: bool, outbox: bool) -> int:
    """One lane's loop; the outbox (transactional mail) is sent by lane 0 only."""
    total = 0
    with app.app_context():
        transport = campaign_transport(app.config)
        session = _worker_session(app)
        worker = DeliveryWorker(app.config, transport)
        try:
            while not stop.is_set():
                try:
                    sent = mailer.send_queued(session, transport, utcnow(), config=app.config) \
                        if outbox else 0
                    sent += worker.run_once(session, stop)
                    if not worker.last_claimed:  # idle: close campaigns with an empty outbox
                        campaigns.finish_sent(session, utcnow())
                except SQLAlchemyError:
                    if once:
                        raise
                    # The database went away (restart, failover): what this worker held comes
                    # back when its lease ends; start over with fresh connections.
                    log.exception("delivery worker: database error; retrying")
                    _reset_after_database_error(session, worker)
                    stop.wait(IDLE_SECONDS)
                    continue
                total += sent
                if once and not sent and not worker.last_claimed:
                    break
                if not sent and not worker.last_claimed:
                    stop.wait(IDLE_SECONDS)
        finally:
            worker.close()
            transport.close()
            session.close()
            if session.bind is not db.engine:
                session.bind.dispose()
            db.session.remove()
    return total

