"""The public pages seen from outside: the subscribe form, confirm, unsubscribe (incl. RFC 8058
one-click), resubscribe, preferences, and what bad input gets."""

from __future__ import annotations

import re
import threading
import time

import pytest
from sqlalchemy import func, select, text

from newsletter import links, tokens
from newsletter.extensions import db
from newsletter.models import (
    ConsentEvent,
    ConsentMethod,
    MailingList,
    OutboundMail,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    utcnow,
)
from newsletter.subscribers.suppression import is_suppressed, suppress

from conftest import csrf_token, deliver_queued

URL_RE = re.compile(r"http://newsletter\.test(/\S+)")


@pytest.fixture
def lists(app):
    with app.app_context():
        news = MailingList(slug="news", name="Weekly News", sender_name="News Desk",
                           sender_address="news@news.example.org", public=True)
        deals = MailingList(slug="deals", name="Deals", public=True)
        db.session.add_all([news, deals])
        db.session.commit()
        return {"news": news.id, "deals": deals.id}


def submit(client, email="ada@example.org", slug="news", query="", **fields):
    token = csrf_token(client, f"/subscribe/{slug}{query}")
    data = {"email": email, "name": "Ada", "country": "GB", "csrf_token": token}
    data.update(fields)
    return client.post(f"/subscribe/{slug}{query}", data=data)


def mail_links(message) -> list[str]:
    text = message.message.get_body(preferencelist=("plain",)).get_content()
    return URL_RE.findall(text)


def confirm_path(smtp, address="ada@example.org") -> str:
    (mail,) = smtp.to(address)
    return next(p for p in mail_links(mail) if p.startswith("/confirm/"))


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def subscription_status(app, email="ada@example.org", slug="news"):
    with app.app_context():
        return db.session.scalar(
            select(Subscription.status).join(Subscriber).join(MailingList)
            .where(Subscriber.email == email, MailingList.slug == slug))


def test_subscribe_form_shows_lists_countries_and_wording(client, lists):
    page = client.get("/subscribe/news?lists=deals").get_data(as_text=True)
    assert "Weekly News" in page and "Deals" in page
    assert '<option value="DE"' in page and "Germany" in page
    assert "I can unsubscribe at any time" in page
    assert 'name="website"' in page  # the honeypot


def test_subscribe_sends_one_confirmation_and_get_confirm_changes_nothing(app, client, smtp, lists):
    response = submit(client)
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    assert smtp.messages == []  # queued: the worker sends it, never the request
    assert deliver_queued(app) == 1
    (mail,) = smtp.to("ada@example.org")
    assert mail.message["From"].addresses[0].addr_spec == "news@news.example.org"
    assert mail.message.get_body(preferencelist=("html",)) is not None
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.mail_from.startswith("bounce+")
    path = confirm_path(smtp)
    for _ in range(3):  # mail scanners pre-fetch links
        page = client.get(path)
        assert page.status_code == 200 and "Confirm my subscription" in page.get_data(as_text=True)
    assert subscription_status(app) is SubscriptionStatus.pending
    assert count(app, ConsentEvent) == 0

    # No cookie or CSRF token needed (the link is the credential): a fresh, cookieless client.
    response = app.test_client(use_cookies=False).post(path)
    assert response.status_code == 200 and "You are subscribed" in response.get_data(as_text=True)
    assert subscription_status(app) is SubscriptionStatus.confirmed
    with app.app_context():
        event = db.session.scalar(select(ConsentEvent))
        assert event.granted and event.purpose == "newsletter:news"
        assert event.method is ConsentMethod.form and "Weekly News" in event.wording
        assert db.session.scalar(select(Subscriber)).status is SubscriberStatus.active
    # No welcome campaign: a short "you're subscribed" mail with the unsubscribe link.
    assert deliver_queued(app) == 1
    welcome = smtp.to("ada@example.org")[1]
    assert "subscribed" in welcome.message["Subject"]
    assert any(p.startswith("/u/") for p in mail_links(welcome))
    text = welcome.message.get_body(preferencelist=("plain",)).get_content()
    assert "You are now subscribed to Weekly News." in text.splitlines(), text
    # The link opened again, later: it says so, with no button that would seem to do anything.
    page = client.get(path).get_data(as_text=True)
    assert "Already confirmed" in page and "Confirm my subscription" not in page
    again = app.test_client(use_cookies=False).post(path).get_data(as_text=True)
    assert "Already confirmed" in again


def test_same_request_twice_leaves_one_subscriber_and_one_mail(app, client, smtp, lists):
    first, second = submit(client), submit(client)
    assert first.get_data() == second.get_data()
    assert count(app, Subscriber) == 1 and count(app, Subscription) == 1
    assert count(app, OutboundMail) == 1
    deliver_queued(app)
    assert len(smtp.to("ada@example.org")) == 1


def test_answer_is_the_same_for_new_known_subscribed_and_suppressed(app, client, smtp, lists):
    with app.app_context():
        suppress(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], "gone@example.org",
                 SuppressionReason.unsubscribe_all, utcnow())
        db.session.commit()
    bodies = {submit(client, email=e).get_data(as_text=True)
              for e in ("new@example.org", "new@example.org", "gone@example.org")}
    assert len({re.sub(r'value="[^"]+"', "", b) for b in bodies}) == 1
    assert smtp.to("gone@example.org") == []
    assert count(app, Subscriber, Subscriber.email == "gone@example.org") == 0


def test_honeypot_gets_the_usual_answer_and_nothing_else(app, client, smtp, lists):
    response = submit(client, website="http://spam.example")
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    assert count(app, Subscriber) == 0 and smtp.messages == []


def test_several_lists_on_one_form_get_one_mail(app, client, smtp, lists):
    response = submit(client, query="?lists=deals", list=[str(lists["news"]), str(lists["deals"])])
    assert response.status_code == 200
    deliver_queued(app)
    assert count(app, Subscription) == 2 and len(smtp.to("ada@example.org")) == 1
    path = confirm_path(smtp)
    client.post(path)
    assert subscription_status(app, slug="deals") is SubscriptionStatus.confirmed
    assert count(app, ConsentEvent) == 2


@pytest.mark.parametrize("field,value", [("name", "Ada\r\nBcc: x@evil.example"),
                                          ("name", "Ada\x00"), ("email", "ada@example.org\nBcc: x"),
                                          ("country", "XX"), ("email", "not an address")])
def test_bad_field_is_refused_with_a_clear_message(app, client, smtp, lists, field, value):
    response = submit(client, **{field: value})
    assert response.status_code == 400
    assert 'id="form-error"' in response.get_data(as_text=True)
    assert count(app, Subscriber) == 0 and smtp.messages == []


@pytest.mark.parametrize("value,message", [
    ("", "Enter an email address."),
    ("ada.example.org", "An email address must have an @-sign."),
])
def test_an_address_error_is_a_sentence_right_below_the_address_field(client, lists, value, message):
    response = submit(client, email=value)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(r'<input type="email" name="email"[^>]*aria-invalid="true"[^>]*>\s*</label>'
                     r'<p class="field-error" role="alert" id="form-error">' + re.escape(message) + "</p>",
                     page), page


def test_unknown_list_slug_is_404(client, lists):
    assert client.get("/subscribe/nope").status_code == 404
    assert client.get("/subscribe/news%00").status_code == 404
    assert client.get("/subscribe/news?lists=de%00als").status_code == 404
    assert client.get("/subscribe/news?lists=nope").status_code == 404
    token = csrf_token(client, "/subscribe/news")
    response = client.post("/subscribe/nope", data={"email": "a@example.org", "csrf_token": token})
    assert response.status_code == 404


def test_ten_megabyte_body_is_refused_with_413(client, lists):
    response = client.post("/subscribe/news", data={"email": "a@example.org", "name": "x" * 10_000_000})
    assert response.status_code == 413


def test_subscribe_post_is_rate_limited_per_ip(app, client, lists):
    app.config["NEWSLETTER_SUBSCRIBE_RATE_LIMIT"] = "3/minute"
    codes = [submit(client, email=f"r{i}@example.org").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]


@pytest.mark.parametrize("path", ["/confirm/{}", "/u/{}", "/preferences/{}"])
def test_tampered_truncated_and_foreign_tokens_get_a_400_page(app, client, lists, path):
    with app.app_context():
        foreign = tokens.sign("another-secret-key-000000000000", tokens.UNSUBSCRIBE, [1, 1])
    good_but_other_purpose = tokens.sign(app.config["SECRET_KEY"], tokens.PRIVACY_VERIFY, [1, [1]])
    for bad in ("garbage", foreign, foreign[:-3], good_but_other_purpose):
        response = client.get(path.format(bad))
        assert response.status_code == 400
        assert "This link does not work" in response.get_data(as_text=True)
        assert client.post(path.format(bad), data={"List-Unsubscribe": "One-Click"}).status_code == 400


def test_confirm_token_is_refused_as_an_unsubscribe_token(app, client, smtp, lists):
    submit(client)
    deliver_queued(app)
    confirm_token = confirm_path(smtp).rsplit("/", 1)[1]
    response = client.post(f"/u/{confirm_token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400
    assert subscription_status(app) is SubscriptionStatus.pending


def active_subscriber(app, email="ada@example.org", slug="news") -> tuple[int, int]:
    from newsletter.subscribers import subscriptions

    with app.app_context():
        mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == slug))
        outcome = subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email=email, lists=[mailing_list], existing_consent=True, send_welcome=False,
            method=ConsentMethod.admin), now=utcnow(), config=app.config)
        db.session.commit()
        return outcome.subscriber.id, mailing_list.id


def test_rfc8058_one_click_post_unsubscribes_without_cookie_or_csrf(app, smtp, lists):
    subscriber_id, list_id = active_subscriber(app)
    url = links.unsubscribe_url(app.config, subscriber_id, list_id)
    path = url.removeprefix("http://newsletter.test")
    client = app.test_client(use_cookies=False)  # a mailbox provider has no session with us
    page = client.get(path)
    assert page.status_code == 200 and subscription_status(app) is SubscriptionStatus.confirmed
    response = client.post(path, data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert subscription_status(app) is SubscriptionStatus.unsubscribed
    with app.app_context():
        event = db.session.scalars(select(ConsentEvent).order_by(ConsentEvent.id.desc())).first()
        assert not event.granted and event.method is ConsentMethod.one_click
    # Again: still 200, nothing more recorded (idempotent).
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert count(app, ConsentEvent, ConsentEvent.granted.is_(False)) == 1


def test_unsubscribe_from_everything_suppresses_and_resubscribe_needs_confirmation(app, client, smtp, lists):
    subscriber_id, list_id = active_subscriber(app)
    path = links.unsubscribe_url(app.config, subscriber_id, list_id).removeprefix("http://newsletter.test")
    page = client.get(path).get_data(as_text=True)
    assert "Unsubscribe from Weekly News" in page and "Unsubscribe from everything" in page
    response = client.post(path, data={"scope": "all"})
    assert "unsubscribed from everything" in response.get_data(as_text=True)
    with app.app_context():
        assert is_suppressed(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], "ada@example.org")
    # The form now answers as usual and sends nothing.
    submit(client)
    deliver_queued(app)
    assert smtp.to("ada@example.org") == []
    # From their own page they can come back, through a fresh confirmation.
    response = client.post(path, data={"action": "resubscribe"})
    assert "Check your inbox" in response.get_data(as_text=True)
    assert subscription_status(app) is SubscriptionStatus.pending
    deliver_queued(app)
    confirm = confirm_path(smtp)
    client.post(confirm)
    assert subscription_status(app) is SubscriptionStatus.confirmed
    with app.app_context():
        assert not is_suppressed(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], "ada@example.org")


def test_expired_confirm_link_offers_a_new_mail(app, client, smtp, lists):
    submit(client)
    deliver_queued(app)
    path = confirm_path(smtp)
    app.config["NEWSLETTER_CONFIRM_MAX_AGE_DAYS"] = -1  # every link is now too old
    app.config["NEWSLETTER_CONFIRM_RESEND_MINUTES"] = 0
    page = client.get(path)
    assert page.status_code == 400 and "Send me a new link" in page.get_data(as_text=True)
    client.post(path, data={"action": "resend"})
    assert deliver_queued(app) == 1 and len(smtp.messages) == 2
    assert subscription_status(app) is SubscriptionStatus.pending


def test_preferences_change_lists_name_country_and_leave_all(app, client, smtp, lists):
    subscriber_id, _ = active_subscriber(app)
    path = links.preferences_url(app.config, subscriber_id, 1).removeprefix("http://newsletter.test")
    page = client.get(path).get_data(as_text=True)
    assert "Weekly News" in page and "Deals" in page
    token = csrf_token(client, path)
    response = client.post(path, data={"csrf_token": token, "action": "save", "name": "Ada L.",
                                       "country": "FR", "list": [str(lists["deals"])]})
    assert response.status_code == 200
    assert subscription_status(app) is SubscriptionStatus.unsubscribed
    assert subscription_status(app, slug="deals") is SubscriptionStatus.confirmed
    with app.app_context():
        subscriber = db.session.get(Subscriber, subscriber_id)
        assert (subscriber.name, subscriber.country) == ("Ada L.", "FR")
        methods = db.session.scalars(select(ConsentEvent.purpose).where(
            ConsentEvent.method == ConsentMethod.preferences)).all()
        assert sorted(methods) == ["newsletter:deals", "newsletter:news", "profile"]
    bad = client.post(path, data={"csrf_token": token, "action": "save", "name": "A\nB"})
    assert bad.status_code == 400
    client.post(path, data={"csrf_token": token, "action": "leave"})
    assert subscription_status(app, slug="deals") is SubscriptionStatus.unsubscribed
    # Bumping token_version revokes the link.
    with app.app_context():
        db.session.get(Subscriber, subscriber_id).token_version += 1
        db.session.commit()
    assert client.get(path).status_code == 400


def _wait_for_a_lock_wait(app, seconds: float = 10.0) -> None:
    """Return once another backend waits on a lock; fail clearly after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # A new transaction each time: pg_stat_activity is a snapshot per transaction.
        with db.engine.connect() as conn:
            if conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE "
                                "wait_event_type = 'Lock' AND datname = current_database()")):
                return
        time.sleep(0.01)
    pytest.fail(f"no request waited on a lock within {seconds} s")


@pytest.mark.postgresql
@pytest.mark.postgresql_only  # the race needs PostgreSQL's row locks
def test_two_identical_requests_at_the_same_moment_on_postgresql(app, smtp, lists):
    """The second request runs while the first has inserted but not committed: its own insert
    waits on the unique index, and once the first commits it takes the conflict branch and
    carries on with the first one's rows (no second subscriber, no second mail).

    Forced, not hoped for: the second starts only after the first's insert, and the first
    commits only once the second's insert is seen waiting on the lock (the test fails if no
    request ever waits). Each request reports whether it created the subscriber.
    """
    from newsletter.subscribers import subscriptions

    created: dict[str, bool] = {}
    inserted = threading.Event()
    errors = []

    def request():
        first = threading.current_thread().name == "first"
        try:
            with app.app_context():
                mailing_list = db.session.get(MailingList, lists["news"])
                if not first:
                    assert inserted.wait(10), "the first request never inserted"
                outcome = subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
                    email="race@example.org", lists=[mailing_list]), now=utcnow(), config=app.config)
                created[threading.current_thread().name] = outcome.created
                if first:
                    db.session.flush()
                    inserted.set()
                    _wait_for_a_lock_wait(app)
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            inserted.set()
            errors.append(exc)

    threads = [threading.Thread(target=request, name=name) for name in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a request hung"
    assert errors == []
    # The second waited on the first's insert and went on with the first one's row.
    assert created == {"first": True, "second": False}
    assert count(app, Subscriber) == 1 and count(app, Subscription) == 1
    assert count(app, OutboundMail) == 1
