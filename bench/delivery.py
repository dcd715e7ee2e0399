"""Delivery throughput: personalised ~20 KB HTML newsletters to a local Postfix smtp-sink.

    python bench/delivery.py [--messages 20000] [--workers 1,2] [--dkim off,on]
                             [--connections N] [--database URL]

For each (DKIM off/on) x (1 and 2 worker processes) it queues one campaign to --messages
subscribers and runs real `flask newsletter worker --once` processes against smtp-sink, each
with --connections SMTP connections (NEWSLETTER_WORKER_CONNECTIONS; default: the worker's own,
4 on PostgreSQL, 1 on SQLite). The rate
is messages / (last sent_at - first sent_at), read from the Delivery rows (process start-up is
not counted; every message is counted only once the server accepted it and its row was marked
sent). The same run measures Postfix's smtp-source against its own smtp-sink
(../shared/tools/smtp-ceiling: same message size, same number of sessions, i.e. workers x
connections, connection reuse),
right before each of our runs, and prints our rate as a ratio of it. Goals (issue 12): >= 0.60
with DKIM off, >= 0.35 with DKIM on (RSA-2048).

The database is PostgreSQL (--database, else TEST_DATABASE_URL, else the local server; a fresh
database is created and dropped), or a SQLite file with --database sqlite.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

SHARED = Path(os.environ.get("NEWSLETTER_SHARED_DIR", REPO.parent / "shared"))
CEILING = SHARED / "tools" / "smtp-ceiling"
SIZE = 20_000
GOALS = {"off": 0.60, "on": 0.35}  # issue 12: ratio to smtp-source with the same sessions
SECRET = "bench-secret-key-0123456789abcdef"


def find_tool(name: str) -> str | None:
    """smtp-sink/smtp-source live in /usr/sbin on Debian, often not on PATH."""
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/usr/local/sbin", "/usr/lib/postfix/sbin"):
        if Path(directory, name).exists():
            return str(Path(directory, name))
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    """Postfix's smtp-sink: accepts everything, keeps nothing."""
    args = [find_tool("smtp-sink")]
    if os.geteuid() == 0:
        args += ["-u", "nobody"]  # smtp-sink refuses to run as root
    process = subprocess.Popen(args + ["-m", "256", f"127.0.0.1:{port}", "1024"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("smtp-sink did not start")


def ceiling(messages: int, sessions: int, size: int) -> float:
    """smtp-source's rate against smtp-sink, same size and sessions, connections reused."""
    out = subprocess.run([str(CEILING), "--port", str(free_port()), "--messages", str(messages),
                          "--size", str(size), "--sessions", str(sessions)],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"smtp_source_msgs_per_s=(\d+)", out).group(1))


def newsletter_body() -> str:
    """About 20 KB of HTML with a few personalised spots, like a real issue."""
    story = ("<h2>Story {n}</h2><p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed "
             "do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim "
             "veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo "
             "consequat. <a href=\"https://example.org/story/{n}\">Read more</a></p>"
             "<table width=\"100%\"><tr><td><strong>Fact</strong></td><td>Duis aute irure dolor "
             "in reprehenderit in voluptate velit esse cillum dolore eu fugiat.</td></tr></table>")
    parts = ["<p>Dear {{ subscriber.name }},</p><p>this week for {{ subscriber.email }}:</p>"]
    n = 0
    while sum(map(len, parts)) < SIZE - 2500:  # the layout adds the rest
        n += 1
        parts.append(story.format(n=n))
    parts.append("<p>See you next week, {{ subscriber.attributes.city }}.</p>")
    return "".join(parts)


def setup_database(url: str | None, tmp: Path):
    if url and url.startswith("postgres"):
        import servers

        database = servers.create_pg_database(url)
        return database, lambda: servers.drop_pg_database(database)
    return f"sqlite:///{tmp / 'bench.db'}", lambda: None


def environment(database_url: str, tmp: Path, port: int, dkim_key: Path | None,
                connections: int = 0) -> dict:
    env = dict(os.environ)
    env.update({
        "NEWSLETTER_ENV": "testing", "SECRET_KEY": SECRET, "DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp / "instance"),
        "NEWSLETTER_BASE_URL": "https://news.example.org", "NEWSLETTER_MAIL_DOMAIN": "example.org",
        "NEWSLETTER_RUN_SCHEDULER": "false", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(port),
        "NEWSLETTER_BATCH_SIZE": "500",
        "NEWSLETTER_WORKER_CONNECTIONS": str(connections),
        "NEWSLETTER_DKIM_KEY_FILE": str(dkim_key) if dkim_key else "",
    })
    return env


def populate(app, count: int) -> int:
    from sqlalchemy import insert, select

    from newsletter.extensions import db
    from newsletter.models import (
        MailingList,
        Subscriber,
        SubscriberStatus,
        Subscription,
        SubscriptionStatus,
    )

    now = datetime.now(UTC)
    with app.app_context():
        db.create_all()
        news = MailingList(slug="bench", name="Bench Weekly", sender_name="Bench",
                           sender_address="bench@example.org")
        db.session.add(news)
        db.session.commit()
        for start in range(0, count, 5000):
            rows = [{"email": f"reader{i}@example.net", "name": f"Reader {i}",
                     "status": SubscriberStatus.active, "attributes": {"city": "Berlin"},
                     "token_version": 1, "created_at": now, "updated_at": now}
                    for i in range(start, min(count, start + 5000))]
            db.session.execute(insert(Subscriber), rows)
        ids = db.session.scalars(select(Subscriber.id)).all()
        for start in range(0, len(ids), 5000):
            db.session.execute(insert(Subscription), [
                {"subscriber_id": sid, "list_id": news.id, "status": SubscriptionStatus.confirmed,
                 "source": "import", "created_at": now} for sid in ids[start:start + 5000]])
        db.session.commit()
        return news.id


def queue_campaign(app, list_id: int, body: str) -> int:
    from newsletter.extensions import db
    from newsletter.sending import campaigns

    now = datetime.now(UTC)
    with app.app_context():
        campaign = campaigns.create(db.session, subject="Bench issue for {{ subscriber.name }}",
                                    body=body, body_format="html", list_ids=[list_id], now=now)
        campaigns.send_now(campaign, now)
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], now)
        campaign_id = campaign.id
        db.session.remove()
    return campaign_id


def measure(app, campaign_id: int) -> tuple[int, float]:
    from sqlalchemy import func, select

    from newsletter.extensions import db
    from newsletter.models import Delivery, DeliveryStatus

    with app.app_context():
        count, first, last = db.session.execute(
            select(func.count(), func.min(Delivery.sent_at), func.max(Delivery.sent_at))
            .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.sent)
        ).one()
        db.session.remove()
    seconds = (last - first).total_seconds() if count > 1 else 0.0
    return count, (count - 1) / seconds if seconds else 0.0


def message_size(app, body: str) -> int:
    """Bytes on the wire of one of our messages (HTML + text part + headers), unsigned."""
    from newsletter.sending import compose

    content = compose.CampaignContent(1, "Bench issue for {{ subscriber.name }}", body, "html", 1,
                                      "bench", "Bench Weekly", "Bench", "bench@example.org")
    compiled = compose.compile_campaign(content, app.config)
    sample = compose.Recipient(1, "reader1@example.net", "Reader 1", {"city": "Berlin"}, 1, 1)
    return len(compiled.render(sample, datetime.now(UTC)).raw)


def run_workers(env: dict, workers: int) -> float:
    started = time.monotonic()
    processes = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "newsletter",
                                   "worker", "--once"], cwd=REPO, env=env,
                                  stdout=subprocess.DEVNULL) for _ in range(workers)]
    try:
        for process in processes:
            if process.wait(timeout=3600) != 0:
                raise SystemExit("a worker failed")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--dkim", default="off,on")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the configurations")
    parser.add_argument("--connections", type=int, default=0,
                        help="SMTP connections per worker (0: the worker's default)")
    # Default: the project's local PostgreSQL (DESIGN.md section 8); `--database sqlite` for a file.
    parser.add_argument("--database", default=os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()
    if not (find_tool("smtp-sink") and find_tool("smtp-source")):
        raise SystemExit("smtp-sink/smtp-source not found: apt-get install postfix "
                         "(only the two test tools are used; the daemon need not run)")

    from campaign_support import write_dkim_key

    from newsletter import create_app
    from newsletter.sending.process import connections_for

    tmp = Path(tempfile.mkdtemp(prefix="nl-bench-"))
    port = free_port()
    sink = start_sink(port)
    database_url, drop = setup_database(args.database, tmp)
    try:
        key_file, _ = write_dkim_key(tmp)
        app = create_app({}, environ=environment(database_url, tmp, port, None,
                                                 args.connections))
        list_id = populate(app, args.messages)
        connections = connections_for(app)
        body = newsletter_body()
        worker_counts = [int(w) for w in args.workers.split(",")]
        size = message_size(app, body)
        # The ceiling sends messages of the same size as ours (HTML part + text part + headers),
        # measured right before each of our runs: the machine is shared, so only a ceiling of
        # the same moment makes the ratio mean something.
        print(f"database {app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}, "
              f"{args.messages} messages per run, ~{SIZE // 1000} KB HTML, {size} bytes on the wire, "
              f"{connections} SMTP connection(s) per worker")
        print(f"{'dkim':<5}{'workers':>8}{'msgs/s':>10}{'ceiling':>10}{'ratio':>8}{'wall s':>9}"
              f"  goal")
        for _ in range(args.rounds):
            for dkim in args.dkim.split(","):
                for workers in worker_counts:
                    campaign_id = queue_campaign(app, list_id, body)
                    env = environment(database_url, tmp, port, key_file if dkim == "on" else None,
                                      connections)
                    limit = ceiling(args.messages, workers * connections, size)
                    # Also smtp-source with one session per worker process, what the worker
                    # had before it ran several connections: shown beside, not judged.
                    per_process = limit if connections == 1 else \
                        ceiling(args.messages, workers, size)
                    wall = run_workers(env, workers)
                    sent, rate = measure(app, campaign_id)
                    if sent != args.messages:
                        raise SystemExit(f"only {sent} of {args.messages} were sent")
                    ratio, goal = rate / limit, GOALS[dkim]
                    aside = "" if connections == 1 else (
                        f"  (smtp-source with {workers} session(s): {per_process:.0f}, "
                        f"ratio {rate / per_process:.2f})")
                    print(f"{dkim:<5}{workers:>8}{rate:>10.0f}{limit:>10.0f}{ratio:>8.2f}"
                          f"{wall:>9.1f}  >= {goal:.2f} {'met' if ratio >= goal else 'NOT met'}"
                          f"{aside}")
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        from newsletter.extensions import db

        with app.app_context():
            db.engine.dispose()
        drop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
