"""Dispatch of a 1,000,000-subscriber campaign on PostgreSQL: seconds and peak RSS.

    python bench/dispatch.py [--subscribers 1000000] [--database postgresql://...]

Creates a fresh database on the server of --database (default TEST_DATABASE_URL), loads the
subscribers and their confirmed subscriptions with COPY (1% of the addresses suppressed, 2%
unsubscribed), then runs `campaigns.dispatch_due_campaigns` in a separate process, which prints
its wall time and its peak RSS (ru_maxrss), so the figure is the dispatching process alone.

The ceiling, timed right after each dispatch on the same server: the database's own
`INSERT INTO delivery ... SELECT` of the very rows dispatch wrote (saved aside, the table
emptied), one statement into the same table with the same indexes and foreign keys. Printed:
dispatch seconds / ceiling seconds. Goal (issue 12): ratio <= 1.5 and peak RSS < 150 MB.
--rounds repeats dispatch + ceiling (the machine is shared; the best pair is the figure).
The database is dropped at the end.

The loader stores Subscriber.email_hash with each row, as the application does on write; the
dispatcher only fills in hashes that are missing (bench with --no-hashes to time that path).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

SECRET = "bench-secret-key-0123456789abcdef"


def environment(database_url: str) -> dict:
    return {"NEWSLETTER_ENV": "testing", "SECRET_KEY": SECRET, "DATABASE_URL": database_url,
            "NEWSLETTER_INSTANCE_PATH": "/tmp/nl-bench-dispatch",
            "NEWSLETTER_BASE_URL": "https://news.example.org", "NEWSLETTER_RUN_SCHEDULER": "false"}


def _filler(table, given: list[str], now: str) -> tuple[str, str]:
    """Extra COPY columns and values for NOT NULL columns the loader does not set itself
    (other features add columns; their Python-side defaults do not apply to COPY)."""
    from sqlalchemy import JSON, Boolean, DateTime, Integer

    names, values = [], []
    for column in table.columns:
        if column.name in given or column.nullable or column.primary_key:
            continue
        default = column.default.arg if column.default is not None else None
        if callable(default) or default is None:
            kind = column.type
            default = (now if isinstance(kind, DateTime) or "DateTime" in type(kind).__name__
                       else "f" if isinstance(kind, Boolean) else 0 if isinstance(kind, Integer)
                       else "{}" if isinstance(kind, JSON) else "")
        elif isinstance(default, bool):
            default = "t" if default else "f"
        names.append(column.name)
        values.append(str(getattr(default, "value", default)))
    return "".join(f", {n}" for n in names), "".join(f"\t{v}" for v in values)


def load(database_url: str, count: int, with_hashes: bool) -> None:
    """Schema, one list, `count` subscribers and subscriptions via COPY, a due campaign."""
    import psycopg
    from sqlalchemy.engine import make_url

    from newsletter import create_app
    from newsletter.extensions import db
    from newsletter.models import Subscriber, Subscription
    from newsletter.subscribers import suppression

    app = create_app({}, environ=environment(database_url))
    key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    now = datetime.now(UTC).isoformat()
    started = time.monotonic()
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO mailing_list (id, slug, name, description, sender_name, "
                     "sender_address, public, archive, double_opt_in, created_at) VALUES "
                     "(1, 'big', 'Big list', '', 'Big', 'big@example.org', false, false, true, %s)",
                     (now,))
        given = ["id", "email", "email_hash", "name", "attributes", "status", "created_at",
                 "updated_at", "token_version"]
        extra_names, extra_values = _filler(Subscriber.__table__, given, now)
        with conn.cursor().copy(f"COPY subscriber ({', '.join(given)}{extra_names}) "
                                "FROM STDIN") as copy:
            for start in range(1, count + 1, 50_000):
                buffer = io.StringIO()
                for i in range(start, min(count, start + 49_999) + 1):
                    email = f"reader{i}@example.net"
                    digest = suppression.email_hash(key, email) if with_hashes else r"\N"
                    status = "unsubscribed" if i % 50 == 0 else "active"
                    buffer.write(f"{i}\t{email}\t{digest}\tReader {i}\t{{}}\t{status}\t{now}\t"
                                 f"{now}\t1{extra_values}\n")
                copy.write(buffer.getvalue())
        given = ["subscriber_id", "list_id", "status", "source", "created_at"]
        extra_names, extra_values = _filler(Subscription.__table__, given, now)
        with conn.cursor().copy(f"COPY subscription ({', '.join(given)}{extra_names}) "
                                "FROM STDIN") as copy:
            for start in range(1, count + 1, 50_000):
                copy.write("".join(f"{i}\t1\tconfirmed\timport\t{now}{extra_values}\n"
                                   for i in range(start, min(count, start + 49_999) + 1)))
        with conn.cursor().copy("COPY suppression (email_hash, reason, created_at, note) "
                                "FROM STDIN") as copy:
            for i in range(7, count + 1, 100):
                copy.write(f"{suppression.email_hash(key, f'reader{i}@example.net')}\tmanual\t"
                           f"{now}\t\n")
        conn.execute("SELECT setval('subscriber_id_seq', %s)", (count,))
        conn.execute("INSERT INTO campaign (id, name, subject, body, body_format, status, send_at, "
                     "timezone, created_at, created_by) VALUES (1, 'Big', 'Hello', 'Hi', "
                     "'markdown', 'scheduled', %s, 'UTC', %s, 'bench')", (now, now))
        conn.execute("INSERT INTO campaign_list (campaign_id, list_id) VALUES (1, 1)")
        conn.commit()
        conn.execute("ANALYZE")
    print(f"loaded {count} subscribers with COPY in {time.monotonic() - started:.1f} s")


def child(database_url: str) -> None:
    """Run in a fresh process: dispatch, then report seconds, rows and peak RSS."""
    from sqlalchemy import func, select

    from newsletter import create_app
    from newsletter.extensions import db
    from newsletter.models import Delivery
    from newsletter.sending import campaigns

    app = create_app({}, environ=environment(database_url))
    with app.app_context():
        started = time.monotonic()
        queued = campaigns.dispatch_due_campaigns(
            db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], datetime.now(UTC))
        seconds = time.monotonic() - started
        rows = db.session.scalar(select(func.count(Delivery.id)))
        again = time.monotonic()
        db.session.execute(db.text("UPDATE campaign SET dispatched_at = NULL WHERE id = 1"))
        db.session.commit()
        repeat = campaigns.dispatch_due_campaigns(
            db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], datetime.now(UTC))
        repeat_seconds = time.monotonic() - again
        db.engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"dispatch: {queued} deliveries queued in {seconds:.1f} s, peak RSS {peak_mb:.0f} MB "
          f"(rows in outbox: {rows})")
    print(f"dispatch run again: {repeat} added in {repeat_seconds:.1f} s (idempotent)")
    print(f"RESULT {seconds} {peak_mb}")


DELIVERY_COLUMNS = "campaign_id, subscriber_id, status, attempts, next_attempt_at"


def ceiling(database_url: str) -> float:
    """Seconds of the database's own INSERT ... SELECT of the rows dispatch wrote; leaves the
    delivery table empty and the campaign due again for the next round."""
    import psycopg
    from sqlalchemy.engine import make_url

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # Constant column names only (noqa below): nothing from outside reaches these strings.
        conn.execute(f"CREATE TABLE saved_delivery AS SELECT {DELIVERY_COLUMNS} FROM delivery")  # noqa: S608
        conn.execute("TRUNCATE delivery")
        conn.execute("VACUUM ANALYZE saved_delivery")
        conn.execute("CHECKPOINT")
        started = time.monotonic()
        conn.execute(f"INSERT INTO delivery ({DELIVERY_COLUMNS}) "  # noqa: S608
                     f"SELECT {DELIVERY_COLUMNS} FROM saved_delivery")
        seconds = time.monotonic() - started
        conn.execute("DROP TABLE saved_delivery")
        conn.execute("TRUNCATE delivery")
        conn.execute("UPDATE campaign SET dispatched_at = NULL, status = 'scheduled' WHERE id = 1")
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    # The project's machines run PostgreSQL on 127.0.0.1:5432 (DESIGN.md section 8).
    parser.add_argument("--database", default=os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--no-hashes", action="store_true",
                        help="load without email_hash, so dispatch computes them")
    parser.add_argument("--rounds", type=int, default=1, help="dispatch + ceiling pairs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not args.database or not args.database.startswith("postgres"):
        raise SystemExit("needs PostgreSQL: --database postgresql://user@host:5432/postgres "
                         "(or TEST_DATABASE_URL)")
    import servers

    database_url = servers.create_pg_database(args.database)
    try:
        load(database_url, args.subscribers, not args.no_hashes)
        pairs = []
        for _ in range(args.rounds):
            out = subprocess.run([sys.executable, __file__, "--child", database_url], check=True,
                                 capture_output=True, text=True).stdout
            print("".join(line + "\n" for line in out.splitlines() if not line.startswith("RESULT")),
                  end="")
            seconds, peak_mb = map(float, out.split("RESULT ")[1].split())
            pairs.append((seconds, ceiling(database_url), peak_mb))
            print(f"ceiling: INSERT ... SELECT of the same rows in {pairs[-1][1]:.1f} s; "
                  f"ratio {pairs[-1][0] / pairs[-1][1]:.2f}")
        seconds, floor, peak_mb = min(pairs, key=lambda p: p[0] / p[1])
        ratio = seconds / floor
        met = ratio <= 1.5 and peak_mb < 150
        print(f"dispatch {args.subscribers} subscribers: {seconds:.1f} s vs the database's own "
              f"INSERT ... SELECT {floor:.1f} s = {ratio:.2f}x, peak RSS {peak_mb:.0f} MB; "
              f"goal <= 1.5x and < 150 MB: {'met' if met else 'NOT met'}")
    finally:
        servers.drop_pg_database(database_url)


if __name__ == "__main__":
    main()
