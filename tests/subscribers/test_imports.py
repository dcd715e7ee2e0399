"""CSV import (CLI and admin upload): bad rows reported by line, dry run, idempotent re-run,
consent basis, streaming in bounded memory."""

from __future__ import annotations

import gc
import io
import re

import pytest
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import (
    ConsentEvent,
    ConsentMethod,
    MailingList,
    OutboundMail,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    utcnow,
)
from newsletter.subscribers import imports
from newsletter.subscribers.suppression import suppress

from conftest import csrf_token

CSV = (
    "email,name,country\n"
    "ada@example.org,Ada,GB\n"
    "not-an-address,Bad,DE\n"
    "grace@example.org,Grace,US\n"
    "linus@example.org,\"Linus\r\nBcc: x@evil.example\",FI\n"
    "ada@example.org,Ada again,GB\n"
    "gone@example.org,Gone,\n"
    "alan@example.org,Alan,ZZ\n"
)


@pytest.fixture
def news(app):
    with app.app_context():
        row = MailingList(slug="news", name="News")
        db.session.add(row)
        suppress(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], "gone@example.org",
                 SuppressionReason.complaint, utcnow())
        db.session.commit()
        return row.id


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(CSV.encode())
    return path


def counts(app):
    with app.app_context():
        return (db.session.scalar(select(func.count(Subscriber.id))),
                db.session.scalar(select(func.count(Subscription.id))),
                db.session.scalar(select(func.count(ConsentEvent.id))))


def test_import_reports_bad_rows_with_line_numbers_and_goes_on(app, runner, smtp, news, csv_file):
    result = runner.invoke(args=["newsletter", "import", str(csv_file), "--list", "news",
                                 "--consent-basis", "existing"])
    assert result.exit_code != 0  # some rows were bad; the good ones are in
    assert "people.csv:3:" in result.output and "people.csv:5:" in result.output
    assert "people.csv:9:" in result.output  # ZZ is no country (row 5 spans two lines)
    assert ("people.csv:9: column 'country': 'ZZ' is not a country code; use the two-letter "
            "ISO 3166-1 code") in result.output
    assert "people.csv:2:" not in result.output
    assert "7 rows: 2 were subscribed" in result.output and "1 suppressed" in result.output
    assert counts(app) == (2, 2, 2)
    with app.app_context():
        events = db.session.scalars(select(ConsentEvent)).all()
        assert {e.method for e in events} == {ConsentMethod.import_}
        assert all("existing" in e.wording and e.granted for e in events)
    assert smtp.messages == []  # existing consent: no mail at all


def test_rerunning_the_same_file_changes_nothing(app, runner, news, csv_file):
    runner.invoke(args=["newsletter", "import", str(csv_file), "--list", "news",
                        "--consent-basis", "existing"])
    before = counts(app)
    result = runner.invoke(args=["newsletter", "import", str(csv_file), "--list", "news",
                                 "--consent-basis", "existing"])
    assert "0 were subscribed" in result.output and "3 unchanged" in result.output
    assert counts(app) == before


def test_dry_run_changes_nothing_and_says_what_would_happen(app, runner, smtp, news, csv_file):
    result = runner.invoke(args=["newsletter", "import", str(csv_file), "--list", "news", "--dry-run"])
    assert "2 would be asked to confirm" in result.output
    assert counts(app) == (0, 0, 0) and smtp.messages == []


def test_double_opt_in_import_queues_confirmations_and_never_revives_leavers(app, runner, smtp, news,
                                                                            csv_file):
    with app.app_context():
        left = Subscriber(email="grace@example.org")
        db.session.add(left)
        db.session.flush()
        db.session.add(Subscription(subscriber_id=left.id, list_id=news,
                                    status=SubscriptionStatus.unsubscribed))
        db.session.commit()
    result = runner.invoke(args=["newsletter", "import", str(csv_file), "--list", "news"])
    assert "1 were asked to confirm" in result.output
    assert "1 confirmation mail(s) queued" in result.output
    runner.invoke(args=["newsletter", "worker", "--once"])
    smtp.wait_for(1)
    assert [m.rcpt_tos for m in smtp.messages] == [["ada@example.org"]]
    assert "confirm" in smtp.messages[0].message["Subject"]
    with app.app_context():
        assert db.session.scalar(select(Subscription.status).join(Subscriber).where(
            Subscriber.email == "grace@example.org")) is SubscriptionStatus.unsubscribed


def test_file_without_an_email_column_fails_clearly(runner, news, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("name\nAda\n")
    result = runner.invoke(args=["newsletter", "import", str(path), "--list", "news"])
    assert result.exit_code != 0 and "email" in result.output


def test_import_streams_in_bounded_memory(app, news):
    """Rows are read one at a time, written and committed per batch, and nothing of a committed
    batch stays alive: what the importer holds does not grow with the file (what holds for 400
    rows in batches of 20 holds for 1,000,000 in batches of 1,000).

    Double opt-in, so each row also makes ORM objects (the pending subscription and its
    confirmation mail). Every 40 rows, while the importer waits for the next line, count the
    rows and ORM objects still alive and the subscribers another connection sees committed.
    """
    alive, committed = [], []

    def lines(rows: int):
        yield "email\n"
        for i in range(rows):
            if i and i % 40 == 0:
                gc.collect()
                alive.append(sum(isinstance(o, HELD) for o in gc.get_objects()))
                with db.engine.connect() as other:
                    committed.append((i, other.scalar(select(func.count(Subscriber.id)))))
            yield f"p{i}@example.org\n"

    with app.app_context():
        report = imports.import_csv(db.session, lines(400), news, consent_basis="double-opt-in",
                                    now=utcnow(), config=app.config, batch_size=20)
    assert report.pending == 400 and report.mails_queued == 400
    # One batch of rows (and its objects) at most; without batch.clear() this grows to 400+.
    assert max(alive) <= 20 * 4, alive
    # Read lazily and committed per batch: a reader that slurped the file first, or a single
    # commit at the end, would show 0 here.
    assert all(count >= read - 20 for read, count in committed), committed
    assert counts(app)[1] == 400


# What a batch creates: its parsed rows and the ORM objects written for them.
HELD = (imports.ImportRow, Subscriber, Subscription, ConsentEvent, OutboundMail)


def test_admin_upload_page_imports(app, admin_client, news):
    token = csrf_token(admin_client, "/admin/import")
    response = admin_client.post("/admin/import", data={
        "csrf_token": token, "list_id": str(news), "consent_basis": "existing",
        "file": (io.BytesIO(CSV.encode()), "people.csv"),
    }, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "line 3" in page and "2 subscribed" in page
    assert counts(app)[1] == 2


def test_admin_upload_may_exceed_the_usual_body_limit_and_survives_odd_rows(app, admin_client, news):
    # An extra column ("note", an attribute) makes the file big without making the test slow.
    big = ("email,name,note\n" + "ada@example.org,Ada,\n" + "bob@example.org," + "x" * 200_000
           + "\n" + "".join(f"p{i}@example.org,P,{'n' * 900}\n" for i in range(2400)))
    assert len(big) > app.config["MAX_CONTENT_LENGTH"]
    token = csrf_token(admin_client, "/admin/import")
    response = admin_client.post("/admin/import", data={
        "csrf_token": token, "list_id": str(news), "consent_basis": "existing", "dry_run": "on",
        "file": (io.BytesIO(big.encode()), "big.csv"),
    }, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:500]
    assert "line 3: not readable as CSV" in page and "2402 rows: would subscribe 2401," in page
    assert counts(app) == (0, 0, 0)  # a dry run
    # The file is kept: importing it for real needs no second upload, and it is gone after.
    staged = re.search(r'name="staged" value="([^"]+)"', page).group(1)
    response = admin_client.post("/admin/import", data={
        "csrf_token": token, "staged": staged, "source": "big.csv", "list_id": str(news),
        "consent_basis": "existing", "encoding": ""})
    assert "2402 rows: 2401 subscribed" in response.get_data(as_text=True)
    assert counts(app)[1] == 2401
    again = admin_client.post("/admin/import", data={
        "csrf_token": token, "staged": staged, "list_id": str(news), "consent_basis": "existing"})
    assert again.status_code == 400 and "no longer kept" in again.get_data(as_text=True)
    # Not logged in: the usual limit applies before anything else.
    anonymous = app.test_client().post("/admin/import", data=big.encode(),
                                       content_type="text/csv")
    assert anonymous.status_code in (302, 413)
