"""HTTP load: subscribe POST and RFC 8058 one-click unsubscribe POST, each beside a trivial hello
route, under gunicorn (4 sync workers) on PostgreSQL, loaded by wrk from a second process.

    .venv/bin/python bench/http_load.py [--duration 10] [--connections 16] [--rounds 2]
        [--baseline /path/to/a/checkout/of/main]

What it does: creates a fresh PostgreSQL database (dropped at the end), builds the schema, seeds
one list and --subscribers confirmed subscribers, starts gunicorn on a loopback port with this
module's `bench_app()` (the real app plus a `GET /hello` route returning "hello"), then runs wrk
against /hello, the subscribe form POST (a new random address per request, with a real session
cookie and CSRF token) and the one-click unsubscribe POST (cycling over the seeded subscribers'
unsubscribe URLs: the first pass over a token unsubscribes, later passes find nothing left to do).

Rate limits are configured out of the way (NEWSLETTER_SUBSCRIBE_RATE_LIMIT=1000000/second) so they
do not distort the figures. Confirmation mail goes to the local Maildir sink (no SMTP server), so
each subscribe writes one file. wrk is required: the script exits non-zero if it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "bench-secret-key-0123456789abcdef"
LIST_SLUG = "bench"

# wrk reports through this: one JSON line, latencies in microseconds.
LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,'
    .. '"socket_errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""

LUA_SUBSCRIBE = """
local counter, id, prefix = 0, 0, 0
local threads_started = 0
setup = function(thread)
  threads_started = threads_started + 1
  thread:set("id", threads_started)
end
init = function(args)
  math.randomseed(os.time() * 1000 + id)
  prefix = math.random(1, 1000000000)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "%(cookie)s"
request = function()
  counter = counter + 1
  local body = "csrf_token=%(csrf)s&name=Bench&country=DE&email=b" .. prefix .. "-" .. id
    .. "-" .. counter .. "%%40example.org"
  return wrk.format(nil, "/subscribe/%(slug)s", nil, body)
end
"""

LUA_UNSUBSCRIBE = """
local tokens = {%(tokens)s}
local counter, id = 0, 0
local threads_started = 0
setup = function(thread)
  threads_started = threads_started + 1
  thread:set("id", threads_started)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "List-Unsubscribe=One-Click"
request = function()
  counter = counter + 1
  local i = ((counter * 7 + id * 1009) %% #tokens) + 1
  return wrk.format(nil, "/u/" .. tokens[i])
end
"""


def bench_app():
    """The real app plus a trivial hello route (gunicorn: 'http_load:bench_app()')."""
    from newsletter import create_app
    from newsletter.extensions import csrf

    app = create_app()

    @app.get("/hello")
    @csrf.exempt
    def hello():
        return "hello"

    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per route")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per route")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    # Large enough that every one-click POST of a run unsubscribes someone: a repeat of a done
    # unsubscribe writes nothing and would flatter the figure.
    parser.add_argument("--subscribers", type=int, default=40000, help="unsubscribe token pool")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the routes")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="another checkout (e.g. of main) served beside this one, interleaved")
    parser.add_argument("--pg-url", default=os.environ.get(
        "TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    args = parser.parse_args()

    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (apt-get install wrk); no figures without it", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO / "tests"))
    sys.path.insert(0, str(REPO))
    import servers

    trees = {"new": REPO}
    if args.baseline:
        trees = {"base": Path(args.baseline).resolve(), "new": REPO}
    workdir = Path(tempfile.mkdtemp(prefix="nl-bench-http-"))
    database_url = servers.create_pg_database(args.pg_url)
    processes = []
    try:
        env = _environment(database_url, workdir, REPO)
        tokens = _seed(env, args.subscribers * len(trees))
        targets = {}
        for index, (name, tree) in enumerate(trees.items()):
            port = servers.free_port()
            processes.append(subprocess.Popen(
                [str(BIN / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
                 "--chdir", str(tree), "--pythonpath", str(tree / "bench"), "--log-level",
                 "warning", "--backlog", "2048", "http_load:bench_app()"],
                env=_environment(database_url, workdir, tree),
            ))
            if not servers.wait_for_port(port, 60):
                print(f"gunicorn ({name}) did not start", file=sys.stderr)
                return 1
            base = f"http://127.0.0.1:{port}"
            cookie, csrf = _form_session(base)
            own = tokens[index * args.subscribers:(index + 1) * args.subscribers]
            scripts = {
                "subscribe": LUA_SUBSCRIBE % {"cookie": cookie, "csrf": csrf, "slug": LIST_SLUG},
                "unsubscribe": LUA_UNSUBSCRIBE % {"tokens": ",".join(f'"{t}"' for t in own)},
                "hello": "",
            }
            paths = {}
            for script, body in scripts.items():
                paths[script] = workdir / f"{name}-{script}.lua"
                paths[script].write_text(body + LUA_DONE)
            targets[name] = (base, paths)

        def run(name: str, script: str, path: str) -> dict:
            base, paths = targets[name]
            command = [wrk, "-t", str(args.threads), "-c", str(args.connections), "--latency",
                       "-s", str(paths[script])]
            if args.warmup:
                subprocess.run(command + ["-d", f"{args.warmup}s", base + path],
                               capture_output=True, check=False)
            out = subprocess.run(command + ["-d", f"{args.duration}s", base + path],
                                 capture_output=True, text=True, check=False).stdout
            match = re.search(r"RESULT (\{.*\})", out)
            if not match:
                raise RuntimeError(f"wrk printed no result:\n{out}")
            result = json.loads(match.group(1))
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            return result

        # Interleaved: each route right after its own hello (the ceiling of that moment), the
        # baseline tree (if any) beside the new one, so load from elsewhere hits both alike.
        rows = []
        for _ in range(args.rounds):
            for route, script, path in (("subscribe", "subscribe", f"/subscribe/{LIST_SLUG}"),
                                        ("one-click", "unsubscribe", "/")):
                for name in trees:
                    hello = run(name, "hello", "/hello")
                    rows.append((name, route, run(name, script, path), hello))
        _report(args, rows, env)
        return 0
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        servers.drop_pg_database(database_url)
        shutil.rmtree(workdir, ignore_errors=True)


def _environment(database_url: str, workdir: Path, tree: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "NEWSLETTER_ENV": "production",
        "SECRET_KEY": SECRET,
        "DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(workdir / "instance"),
        "NEWSLETTER_BASE_URL": "http://127.0.0.1",
        "NEWSLETTER_MAIL_SINK": str(workdir / "outbox"),
        "NEWSLETTER_RUN_SCHEDULER": "false",
        # Off for the bench (see the module docstring): they would measure the limiter, not us.
        "NEWSLETTER_SUBSCRIBE_RATE_LIMIT": "1000000/second",
        "PYTHONPATH": f"{tree}:{tree / 'bench'}",
    })
    env.pop("MAIL_SERVER", None)
    return env


def _seed(env: dict, count: int) -> list[str]:
    """Schema, one list, `count` confirmed subscribers; returns their unsubscribe tokens."""
    from sqlalchemy import insert

    from newsletter import create_app, links
    from newsletter.extensions import db
    from newsletter.models import (
        MailingList,
        Subscriber,
        SubscriberStatus,
        Subscription,
        SubscriptionStatus,
        utcnow,
    )

    app = create_app(environ=env)
    with app.app_context():
        db.create_all()
        now = utcnow()
        mailing_list = MailingList(slug=LIST_SLUG, name="Bench", public=True,
                                   sender_address="bench@news.example.org")
        db.session.add(mailing_list)
        db.session.flush()
        ids = db.session.scalars(insert(Subscriber).returning(Subscriber.id), [
            {"email": f"seed{i}@example.org", "status": SubscriberStatus.active, "created_at": now,
             "updated_at": now} for i in range(count)]).all()
        db.session.execute(insert(Subscription), [
            {"subscriber_id": i, "list_id": mailing_list.id, "status": SubscriptionStatus.confirmed,
             "created_at": now, "confirmed_at": now, "source": "import"} for i in ids])
        db.session.commit()
        tokens = [links.unsubscribe_token(app.config, i, mailing_list.id) for i in ids]
        db.session.remove()
        db.engine.dispose()
    return tokens


def _form_session(base: str) -> tuple[str, str]:
    """A session cookie and its CSRF token, as a browser would hold them after loading the form."""
    import requests

    # The first request of a worker imports and compiles a lot: slow on a busy machine.
    response = requests.get(f"{base}/subscribe/{LIST_SLUG}", timeout=120)
    response.raise_for_status()
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', response.text).group(1)
    cookie = "; ".join(f"{c.name}={c.value}" for c in response.cookies)
    return cookie, csrf


GOALS = {"subscribe": (0.25, None), "one-click": (0.50, 30.0)}  # ratio to hello, p99 ms


def _report(args, rows, env) -> None:
    print(f"gunicorn {args.workers} sync workers, PostgreSQL, wrk -t{args.threads} "
          f"-c{args.connections} -d{args.duration}s (after {args.warmup}s warm-up) on loopback; "
          f"rate limits off (NEWSLETTER_SUBSCRIBE_RATE_LIMIT={env['NEWSLETTER_SUBSCRIBE_RATE_LIMIT']}); "
          f"{args.subscribers} seeded subscribers per tree; {os.cpu_count()} CPUs")
    print(f"{'tree':5} {'route':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
          f"{'hello/s':>9} {'vs hello':>9}  goal")
    best: dict[tuple[str, str], tuple[float, float]] = {}
    for tree, route, result, hello in rows:
        ratio, p99 = result["rps"] / hello["rps"], result["p99_us"] / 1000
        floor, ceiling = GOALS[route]
        goal = f">= {floor:.2f}" + (f", p99 < {ceiling:.0f} ms" if ceiling else "")
        print(f"{tree:5} {route:10} {result['rps']:9.1f} {result['p50_us'] / 1000:8.2f} "
              f"{p99:8.2f} {result['non2xx'] + result['socket_errors']:8d} {hello['rps']:9.1f} "
              f"{ratio:9.2f}  {goal}")
        if tree == "new":
            kept = best.get((tree, route))
            best[(tree, route)] = (max(ratio, kept[0]) if kept else ratio,
                                   min(p99, kept[1]) if kept else p99)
    for (_, route), (ratio, p99) in best.items():
        floor, ceiling = GOALS[route]
        met = ratio >= floor and (ceiling is None or p99 < ceiling)
        print(f"goal {route}: ratio {ratio:.2f} (>= {floor:.2f})"
              + (f", p99 {p99:.1f} ms (< {ceiling:.0f})" if ceiling else "")
              + f": {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    start = time.monotonic()
    code = main()
    print(f"({time.monotonic() - start:.0f} s)", file=sys.stderr)
    sys.exit(code)
