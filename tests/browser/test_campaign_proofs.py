"""In a real browser: a marketer previews a campaign as one real subscriber and sees that
subscriber's subject and mail at a phone's width (375 px) and a desktop's (800 px), in the
responsive MJML starter layout, with nothing loaded from outside the machine."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from campaign_support import NOW, make_list, new_campaign
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import (
    AuditEvent,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.sending import layouts

BODY = """Hi {{ subscriber.name }}, your plan is {{ subscriber.attributes.plan }}.

> A reader wrote in.

| Plan | Seats |
|------|------:|
| Basic | 1 |
| Team | 10 |
"""
# The two footer columns of the responsive starter: side by side on a desktop, stacked on a phone.
COLUMN_TOPS = ("[...document.querySelectorAll('.mj-column-per-60, .mj-column-per-40')]"
               ".map(e => Math.round(e.getBoundingClientRect().top))")


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


def _campaign(app) -> int:
    with app.app_context():
        news = make_list(db.session, "news", name="Weekly News")
        responsive = layouts.starter("responsive")
        layouts.save(db.session, mailing_list=news, name=responsive.name,
                     source_format=responsive.source_format.value, source=responsive.source(),
                     now=NOW, actor="test")
        ada = Subscriber(email="ada@example.net", name="Ada Lovelace", attributes={"plan": "pro"},
                         status=SubscriberStatus.active, created_at=NOW, updated_at=NOW)
        db.session.add(ada)
        db.session.flush()
        db.session.add(Subscription(subscriber_id=ada.id, list_id=news.id,
                                    status=SubscriptionStatus.confirmed, source="import",
                                    created_at=NOW, confirmed_at=NOW))
        db.session.commit()
        return new_campaign(db.session, news, subject="News for {{ subscriber.name }}",
                            body=BODY).id


def test_preview_as_a_subscriber_at_phone_and_desktop_width(page, app, auth):
    campaign_id = _campaign(app)
    auth.create()
    leaked, errors = [], []
    page.context.route("**/*", lambda route: (
        route.continue_() if urlsplit(route.request.url).hostname == "127.0.0.1"
        else (leaked.append(route.request.url), route.abort())))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/login")
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    page.goto(f"/admin/campaigns/{campaign_id}")
    page.fill("#preview-as input[name=email]", "ada@example.net")
    page.click("#preview-as button[type=submit]")
    assert page.locator("#proof-subject").inner_text() == "News for Ada Lovelace"
    widths = {}
    for name in ("phone", "desktop"):
        frame = page.locator(f"#proof-{name}")
        # fit-frame.js has sized the frame to the mail: it is read in one scroll.
        page.wait_for_function(f"() => document.querySelector('#proof-{name}').style.height !== ''")
        inner = frame.element_handle().content_frame()
        text = inner.locator("body").inner_text()
        assert "Hi Ada Lovelace, your plan is pro." in text
        assert "Weekly News" in text  # the layout's header names the list
        # The body's table and quotation, styled by the layout.
        assert inner.locator(".content table td").count() == 4
        assert inner.eval_on_selector(".content th", "e => getComputedStyle(e).backgroundColor") \
            == "rgb(15, 118, 110)"
        assert inner.eval_on_selector(".content blockquote",
                                      "e => getComputedStyle(e).borderLeftStyle") == "solid"
        widths[name] = inner.evaluate("document.documentElement.clientWidth")
        # Nothing is wider than the screen it is shown on.
        assert inner.evaluate("document.documentElement.scrollWidth") <= widths[name]
        tops = inner.evaluate(COLUMN_TOPS)
        assert len(tops) == 2
        if name == "phone":
            assert tops[1] > tops[0], "the columns stack on a phone"
        else:
            assert tops[1] == tops[0], "the columns stand side by side on a desktop"
        scroll = inner.evaluate("(document.scrollingElement || document.documentElement).scrollHeight")
        assert frame.bounding_box()["height"] >= scroll
    assert widths == {"phone": 375, "desktop": 800}
    assert leaked == []
    assert not [e for e in errors if "Content Security Policy" in e]
    with app.app_context():
        looks = db.session.scalars(select(AuditEvent.action)
                                   .where(AuditEvent.subject_type == "subscriber")).all()
    assert looks == ["subscriber.mail_preview"]


@pytest.mark.parametrize("slug", [s.slug for s in layouts.STARTERS])
def test_each_starter_fits_a_phone_and_a_desktop(page, app, auth, slug):
    with app.app_context():
        news = make_list(db.session, "news", name="Weekly News")
        starter = layouts.starter(slug)
        layout_id = layouts.save(db.session, mailing_list=news, name=starter.name,
                                 source_format=starter.source_format.value,
                                 source=starter.source(), now=NOW, actor="test").id
        db.session.commit()
    auth.create()
    leaked = []
    page.context.route("**/*", lambda route: (
        route.continue_() if urlsplit(route.request.url).hostname == "127.0.0.1"
        else (leaked.append(route.request.url), route.abort())))
    page.goto("/login")
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    for width in (375, 800):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"/admin/layouts/{layout_id}/preview")
        assert "Weekly News" in page.locator("body").inner_text()
        # The sample's table and quotation included, nothing is wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.locator("blockquote").count() == 1
    assert leaked == []
