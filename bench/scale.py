"""A 1,000,000-subscriber campaign end to end on PostgreSQL: dispatch, two workers, smtp-sink.

    python bench/scale.py [--subscribers 1000000] [--workers 2] [--database postgresql://...]

Loads the subscribers with COPY (bench/dispatch.py's loader: 1% suppressed, 2% unsubscribed),
gives the campaign the ~20 KB personalised HTML issue of bench/delivery.py, then starts at the
same moment one dispatching process (`dispatch_due_campaigns`) and --workers `flask newsletter
worker` processes sending to Postfix's smtp-sink. Workers pick up each id range as soon as
dispatch commits it. When every queued delivery is settled the workers are stopped.

Printed: the send rate of the first and of the last 10% of the messages (from Delivery.sent_at),
which must not fall as the queue drains; the peak RSS (VmHWM) of each process and each worker's
RSS when 10% and when 90% were sent, which must stay flat. A smaller --subscribers makes a
quick run; the default is the figure of issue 12. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import delivery  # noqa: E402 - a sibling bench: the sink, the issue body, the environment
import dispatch  # noqa: E402 - a sibling bench: the COPY loader

REPO = BENCH.parent


def dispatch_child(database_url: str) -> None:
    """Run in its own process: dispatch the due campaign (committing per id range)."""
    from newsletter import create_app
    from newsletter.extensions import db
    from newsletter.sending import campaigns

    app = create_app({}, environ=dispatch.environment(database_url))
    with app.app_context():
        queued = campaigns.dispatch_due_campaigns(
            db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], datetime.now(UTC))
        db.engine.dispose()
    print(f"RESULT {queued}")


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process in MB; empty once it has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0]) // 1024
    return found


def settled(dsn: str) -> tuple[int, int]:
    """(deliveries written, deliveries no longer queued or sending)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status NOT IN ('queued', 'sending')) "
            "FROM delivery").fetchone()


def rates(dsn: str) -> tuple[int, float, float]:
    """(messages sent, msgs/s over the first 10% of them, msgs/s over the last 10%)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        times = [row[0] for row in conn.execute(
            "SELECT sent_at FROM delivery WHERE status = 'sent' ORDER BY sent_at")]
    tenth = max(2, len(times) // 10)

    def rate(chunk: list) -> float:
        seconds = (chunk[-1] - chunk[0]).total_seconds()
        return (len(chunk) - 1) / seconds if seconds else 0.0

    return len(times), rate(times[:tenth]), rate(times[-tenth:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", default=os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--dispatch-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dispatch_child:
        dispatch_child(args.dispatch_child)
        return 0
    if not (delivery.find_tool("smtp-sink")):
        raise SystemExit("smtp-sink not found: apt-get install postfix")
    import psycopg
    from sqlalchemy.engine import make_url

    import servers

    tmp = Path(tempfile.mkdtemp(prefix="nl-bench-scale-"))
    database_url = servers.create_pg_database(args.database)
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    port = delivery.free_port()
    sink = delivery.start_sink(port)
    processes: dict[str, subprocess.Popen] = {}
    try:
        dispatch.load(database_url, args.subscribers, with_hashes=True)
        body = delivery.newsletter_body().replace("{{ subscriber.attributes.city }}", "friend")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("UPDATE campaign SET body = %s, body_format = 'html', "
                         "subject = 'Scale issue for {{ subscriber.name }}' WHERE id = 1", (body,))
        env = delivery.environment(database_url, tmp, port, None)
        started = time.monotonic()
        processes["dispatch"] = subprocess.Popen(
            [sys.executable, __file__, "--dispatch-child", database_url], cwd=REPO, env=env,
            stdout=subprocess.PIPE, text=True)
        for n in range(1, args.workers + 1):
            processes[f"worker {n}"] = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "newsletter", "worker"],
                cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        peak: dict[str, int] = {}
        marks: dict[str, dict[str, int]] = {"10%": {}, "90%": {}}
        expected = None
        while True:
            time.sleep(1.0)
            for name, process in processes.items():
                seen = memory(process.pid)
                peak[name] = max(peak.get(name, 0), seen.get("VmHWM", 0))
            if expected is None and processes["dispatch"].poll() is not None:
                out = processes["dispatch"].stdout.read()
                if processes["dispatch"].returncode != 0 or "RESULT" not in out:
                    raise SystemExit(f"dispatch failed:\n{out}")
                expected = int(out.split("RESULT ")[1])
                print(f"dispatch: {expected} deliveries in {time.monotonic() - started:.1f} s")
            written, done = settled(dsn)
            total = expected or args.subscribers
            for mark, fraction in (("10%", 0.1), ("90%", 0.9)):
                if not marks[mark] and done >= fraction * total:
                    marks[mark] = {name: memory(p.pid).get("VmRSS", 0)
                                   for name, p in processes.items() if name != "dispatch"}
            if expected is not None and done >= expected:
                break
            if any(p.poll() not in (None, 0) for p in processes.values()):
                raise SystemExit("a process failed")
        wall = time.monotonic() - started
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        sent, first, last = rates(dsn)
        print(f"{args.subscribers} subscribers, {sent} sent in {wall:.0f} s end to end "
              f"(dispatch + {args.workers} workers, PostgreSQL, smtp-sink, no DKIM)")
        print(f"rate, first 10%: {first:.0f} msgs/s; last 10%: {last:.0f} msgs/s; "
              f"last/first {last / first if first else 0:.2f} (goal: >= 0.9, the rate does "
              f"not fall as the queue drains)")
        for name in processes:
            line = f"{name:9} peak RSS {peak.get(name, 0):4d} MB"
            if name != "dispatch":
                line += (f"; RSS at 10% {marks['10%'].get(name, 0)} MB, at 90% "
                         f"{marks['90%'].get(name, 0)} MB (goal: flat)")
            print(line)
        return 0
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
            process.wait()
        sink.kill()
        sink.wait()
        servers.drop_pg_database(database_url)


if __name__ == "__main__":
    sys.exit(main())
