"""The dashboard's daily series, counted in SQL on SQLite and PostgreSQL: subscribers per list
at the end of each day, copies sent per day; and the chart images built from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaign_support import make_list, new_campaign

from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.sending import trends

NOW = datetime(2026, 6, 30, 15, 0, tzinfo=UTC)


def _subscriber(session, mailing_list, email, confirmed_at, unsubscribed_at=None):
    person = Subscriber(email=email, status=SubscriberStatus.active)
    session.add(person)
    session.flush()
    session.add(Subscription(
        subscriber_id=person.id, list_id=mailing_list.id, confirmed_at=confirmed_at,
        unsubscribed_at=unsubscribed_at,
        status=SubscriptionStatus.unsubscribed if unsubscribed_at else SubscriptionStatus.confirmed))
    return person


def test_subscribers_per_list_and_sends_per_day(session):
    news = make_list(session, "news", name="News")
    make_list(session, "empty", name="Empty")
    day = timedelta(days=1)
    _subscriber(session, news, "old@example.net", NOW - 90 * day)  # before the window
    _subscriber(session, news, "gone-before@example.net", NOW - 90 * day, NOW - 60 * day)
    _subscriber(session, news, "left-late@example.net", NOW - 90 * day, NOW - 2 * day)
    joiner = _subscriber(session, news, "new@example.net", NOW - 5 * day)
    _subscriber(session, news, "brief@example.net", NOW - 10 * day, NOW - 9 * day)
    session.commit()
    series = trends.subscribers_per_list(session, NOW)
    assert series.days[-1] == "2026-06-30" and len(series.days) == trends.DAYS
    values = dict(zip(series.days, series.lines["News"], strict=True))
    assert values["2026-06-01"] == 2  # old, left-late
    assert values["2026-06-20"] == 3  # + brief, who joined that day
    assert values["2026-06-21"] == 2  # brief left
    assert values["2026-06-25"] == 3  # + new
    assert values["2026-06-28"] == 2  # left-late left
    assert series.lines["Empty"] == [0] * trends.DAYS

    campaign = new_campaign(session, news)
    for sent_at, status in ((NOW - day, DeliveryStatus.sent), (NOW, DeliveryStatus.sent),
                            (NOW, DeliveryStatus.bounced), (NOW - 40 * day, DeliveryStatus.sent)):
        person = Subscriber(email=f"r{sent_at:%d%H%M%S}{status.value}@example.net")
        session.add(person)
        session.flush()
        session.add(Delivery(campaign_id=campaign.id, subscriber_id=person.id, status=status,
                             sent_at=sent_at))
    session.add(Delivery(campaign_id=campaign.id, subscriber_id=joiner.id,
                         status=DeliveryStatus.sent, sent_at=NOW.replace(hour=23, minute=59)))
    session.commit()
    sends = dict(zip(series.days, trends.sends_per_day(session, NOW).lines["sent"], strict=True))
    assert (sends["2026-06-29"], sends["2026-06-30"], sum(sends.values())) == (1, 2, 3)


def test_chart_images_are_svg_without_script_or_address(admin_client):
    for name in ("subscribers", "sends", "rates"):
        response = admin_client.get(f"/admin/charts/{name}.svg")
        assert response.status_code == 200
        assert response.mimetype == "image/svg+xml"
        assert "style-src 'unsafe-inline'" in response.headers["Content-Security-Policy"]
        body = response.get_data(as_text=True)
        assert body.startswith("<svg") and "<script" not in body
        assert "pygal.org" not in body
    assert admin_client.get("/admin/charts/other.svg").status_code == 404
