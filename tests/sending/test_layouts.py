"""The layout library: MJML compiled at save with its Jinja tags intact, every save checked by
the one layout rule, and a campaign sent through the worker in its list's layout."""

from __future__ import annotations

import re

import pytest
from campaign_support import NOW, drain, make_list
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import (
    Campaign,
    Layout,
    LayoutFormat,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.sending import campaigns, layouts, readers

MJML = """<mjml><mj-body>
  <mj-section background-color="#123456"><mj-column>
    <mj-text css-class="brand-name" color="#ffffff">{{ list.name }}</mj-text>
  </mj-column></mj-section>
  <mj-section><mj-column>
    <mj-text>{{ content }}</mj-text>
    <mj-button href="{{ unsubscribe_url }}">Leave {{ list.name | upper }}</mj-button>
  </mj-column></mj-section>
</mj-body></mjml>"""


def _subscriber(session, mailing_list, email, name, **attributes) -> Subscriber:
    person = Subscriber(email=email, name=name, status=SubscriberStatus.active,
                        attributes=attributes, created_at=NOW, updated_at=NOW)
    session.add(person)
    session.flush()
    session.add(Subscription(subscriber_id=person.id, list_id=mailing_list.id,
                             status=SubscriptionStatus.confirmed, source="import",
                             created_at=NOW, confirmed_at=NOW))
    session.commit()
    return person


def test_jinja_tags_survive_mjml_compilation():
    html = layouts.compile_mjml(
        '<mjml><mj-body><mj-section><mj-column>'
        '<mj-text>{% if subscriber.name %}Hi {{ subscriber.name | default("you") }}{% endif %}'
        '</mj-text><mj-text>{{ content }}</mj-text>'
        '<mj-button href="{{ preferences_url }}">Settings</mj-button>'
        '</mj-column></mj-section></mj-body></mjml>')
    for tag in ('{% if subscriber.name %}', '{{ subscriber.name | default("you") }}',
                '{% endif %}', '{{ content }}', 'href="{{ preferences_url }}"'):
        assert tag in html, tag
    assert "nljinja" not in html
    assert "fonts.googleapis" not in html and "<link" not in html  # no web font is linked
    layouts.check(html)  # and the result passes the layout rule


def test_a_tag_mjml_would_drop_is_refused_by_name():
    # MRML leaves out an attribute it does not know, and with it the tag.
    with pytest.raises(layouts.LayoutError, match=r"dropped '\{\{ list.slug \}\}'"):
        layouts.compile_mjml('<mjml><mj-body><mj-section data-x="{{ list.slug }}">'
                             "<mj-column><mj-text>{{ content }}</mj-text></mj-column>"
                             "</mj-section></mj-body></mjml>")


def test_mjml_include_reads_no_file():
    with pytest.raises(layouts.LayoutError, match="MJML"):
        layouts.compile_mjml('<mjml><mj-body><mj-include path="/etc/passwd" type="html" />'
                             "</mj-body></mjml>")


@pytest.mark.parametrize("source, message", [
    ("<mjml><mj-body><mj-section>", "MJML: "),
    ("<mjml><mj-body><mj-text>no slot</mj-text></mj-body></mjml>", "{{ content }}"),
])
def test_bad_mjml_is_refused_and_nothing_is_stored(app, source, message):
    with app.app_context():
        news = make_list(db.session)
        with pytest.raises(layouts.LayoutError) as refused:
            layouts.save(db.session, mailing_list=news, name="Broken", source_format="mjml",
                         source=source, now=NOW, actor="test")
        assert message in str(refused.value)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Layout)) == 0


def test_a_runaway_layout_is_refused_at_save_naming_the_limit(app):
    with app.app_context():
        news = make_list(db.session)
        with pytest.raises(layouts.LayoutError, match="NEWSLETTER_TEMPLATE_MAX_BYTES"):
            layouts.save(db.session, mailing_list=news, name="Runaway", source_format="html",
                         source="<p>{{ content }}</p>{{ 'x' * 10**9 }}", now=NOW, actor="test")


def test_a_layout_that_fails_for_a_real_subscriber_is_refused_naming_them(app):
    with app.app_context():
        news = make_list(db.session)
        _subscriber(db.session, news, "odd@example.net", "Odd", seats="many")
        with pytest.raises(layouts.LayoutError, match="odd@example.net"):
            layouts.save(db.session, mailing_list=news, name="Maths", source_format="html",
                         source="{{ content }}{{ subscriber.attributes.seats + 1 "
                                "if subscriber.attributes.seats is defined else '' }}",
                         now=NOW, actor="test",
                         samples=readers.sample_readers(db.session, [news]))


def test_the_first_layout_is_the_default_and_one_default_per_list(app):
    with app.app_context():
        news = make_list(db.session)
        first = layouts.save(db.session, mailing_list=news, name="One", source_format="html",
                             source="<div>{{ content }}</div>", now=NOW, actor="test")
        second = layouts.save(db.session, mailing_list=news, name="Two", source_format="html",
                              source="<main>{{ content }}</main>", now=NOW, actor="test")
        assert first.is_default and not second.is_default
        layouts.set_default(db.session, second)
        db.session.commit()
        defaults = db.session.scalars(select(Layout.name).where(Layout.is_default)).all()
        assert defaults == ["Two"]


def test_a_layout_an_unsent_campaign_uses_cannot_be_deleted(app):
    with app.app_context():
        news = make_list(db.session)
        kept = layouts.save(db.session, mailing_list=news, name="Kept", source_format="html",
                            source="<div>{{ content }}</div>", now=NOW, actor="test")
        campaigns.create(db.session, subject="S", body="b", list_ids=[news.id], now=NOW,
                         layout_id=kept.id, name="June")
        with pytest.raises(layouts.LayoutError, match="June"):
            layouts.delete(db.session, kept)


def test_a_campaign_may_only_pick_a_layout_of_its_lists(app):
    with app.app_context():
        news, other = make_list(db.session), make_list(db.session, "other", name="Other")
        theirs = layouts.save(db.session, mailing_list=other, name="Theirs",
                              source_format="html", source="<div>{{ content }}</div>",
                              now=NOW, actor="test")
        with pytest.raises(campaigns.CampaignError, match="one of the campaign's lists"):
            campaigns.create(db.session, subject="S", body="b", list_ids=[news.id], now=NOW,
                             layout_id=theirs.id)


def test_a_campaign_goes_out_through_the_worker_in_its_mjml_layout(app, smtp):
    with app.app_context():
        news = make_list(db.session, name="Weekly News")
        _subscriber(db.session, news, "ada@example.net", "Ada Lovelace", city="London")
        plain = layouts.save(db.session, mailing_list=news, name="Plain", source_format="html",
                             source="<div>PLAIN {{ content }}</div>", now=NOW, actor="test")
        chosen = layouts.save(db.session, mailing_list=news, name="Brand",
                              source_format="mjml", source=MJML, now=NOW, actor="test")
        assert plain.is_default and chosen.source_format is LayoutFormat.mjml
        assert "<mjml>" not in chosen.html and "{{ list.name }}" in chosen.html
        campaign = campaigns.create(
            db.session, subject="Hello {{ subscriber.name }}", list_ids=[news.id], now=NOW,
            body="Hi {{ subscriber.name }} in {{ subscriber.attributes.city }}.",
            layout_id=chosen.id)
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        db.session.commit()
        assert db.session.get(Campaign, campaign.id).layout_id == chosen.id
    assert drain(app) == 1
    received = smtp.wait_for(1)[0]
    assert received.rcpt_tos == ["ada@example.net"]
    assert received.message["Subject"] == "Hello Ada Lovelace"
    html = received.message.get_body(("html",)).get_content()
    header = re.search(r'class="brand-name"[^>]*>.*?<div[^>]*>(.*?)</div>', html, re.DOTALL)
    assert header and header.group(1).strip() == "Weekly News"
    assert "Hi Ada Lovelace in London." in html
    assert "Leave WEEKLY NEWS" in html and "PLAIN" not in html
    assert "@media" in html  # MJML's responsive rules are kept beside the inlined styles
    assert "{{" not in html and "{%" not in html


def test_two_layouts_of_a_list_cannot_share_a_name(app):
    with app.app_context():
        news = make_list(db.session)
        layouts.save(db.session, mailing_list=news, name="Same", source_format="html",
                     source="<div>{{ content }}</div>", now=NOW, actor="test")
        with pytest.raises(layouts.LayoutError, match="already has a layout named 'Same'"):
            layouts.save(db.session, mailing_list=news, name="Same", source_format="html",
                         source="<main>{{ content }}</main>", now=NOW, actor="test")


def test_each_occurrence_of_a_series_keeps_its_layout(app):
    from datetime import timedelta

    with app.app_context():
        news = make_list(db.session)
        layouts.save(db.session, mailing_list=news, name="Default", source_format="html",
                     source="<div>{{ content }}</div>", now=NOW, actor="test")
        chosen = layouts.save(db.session, mailing_list=news, name="Monday",
                              source_format="html", source="<main>{{ content }}</main>",
                              now=NOW, actor="test")
        series = campaigns.create(db.session, subject="Notes", body="b", list_ids=[news.id],
                                  now=NOW, cron="0 9 * * 1", layout_id=chosen.id)
        db.session.commit()
        spawned = campaigns.spawn_occurrences(db.session, series.next_occurrence_at
                                              + timedelta(minutes=1))
        assert [c.layout_id for c in spawned] == [chosen.id]


@pytest.mark.parametrize("starter", layouts.STARTERS, ids=lambda s: s.slug)
def test_each_starter_compiles_passes_the_rule_and_loads_nothing_remote(starter):
    html = layouts.compile_source(starter.source_format, starter.source())
    layouts.check(html)
    assert "{{ list.name }}" in html  # the header names the list
    for selector in ("table", "th", "blockquote"):
        assert re.search(rf"(^|[\s}},.]){selector}\s*\{{", html, re.MULTILINE), selector
    remote = re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|@import|url\(|<link""", html)
    assert remote == []


def test_the_api_creates_a_campaign_in_a_chosen_layout_of_its_list_only(app, client, api_token):
    with app.app_context():
        news, other = make_list(db.session), make_list(db.session, "other", name="Other")
        ours = layouts.save(db.session, mailing_list=news, name="Ours", source_format="html",
                            source="<div class=ours>{{ content }}</div>", now=NOW, actor="test")
        theirs = layouts.save(db.session, mailing_list=other, name="Theirs",
                              source_format="html", source="<div>{{ content }}</div>",
                              now=NOW, actor="test")
        db.session.commit()
        ours_id, theirs_id = ours.id, theirs.id
    issue = {"subject": "In a layout", "body": "Hello", "lists": ["news"]}
    response = client.post("/api/v1/campaigns", headers=api_token,
                           json={**issue, "layout_id": ours_id})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["layout_id"] == ours_id
    with app.app_context():
        assert db.session.get(Campaign, response.get_json()["id"]).layout_id == ours_id
    refused = client.post("/api/v1/campaigns", headers=api_token,
                          json={**issue, "layout_id": theirs_id})
    assert refused.status_code == 422
    assert "one of the campaign's lists" in refused.get_json()["message"]
    default = client.post("/api/v1/campaigns", headers=api_token, json=issue)
    assert default.status_code == 201 and default.get_json()["layout_id"] is None
