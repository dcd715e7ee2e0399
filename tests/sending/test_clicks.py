"""Aggregate click counts (a list's choice, off by default): on the SMTP server's bytes, a
counted link is the same for every reader and names no one, personal and own links stay as
written, the footer says that clicks are counted; following it counts per link and
redirects; the campaign page shows the totals."""

from __future__ import annotations

import re
from html import unescape

from campaign_support import NOW, add_subscribers, drain, make_list, new_campaign
from sqlalchemy import select

from newsletter import tokens
from newsletter.extensions import db
from newsletter.models import LinkClick, MailingList
from newsletter.sending import campaigns, clicks

from conftest import csrf_token

BODY = ("Hi {{ subscriber.name }}.\n\n[Read more](https://example.org/more?a=1&b=2) or "
        "[your page](https://example.org/u?n={{ subscriber.attributes.n }}) or "
        "[write](mailto:team@example.org)")


def _send(app, count_clicks: bool) -> int:
    with app.app_context():
        news = make_list(db.session, count_clicks=count_clicks)
        add_subscribers(db.session, news, 2)
        campaign = new_campaign(db.session, news, body=BODY)
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        campaign_id = campaign.id
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        db.session.remove()
    assert drain(app) == 2
    return campaign_id


def _parts(message) -> tuple[str, str]:
    return (message.message.get_body(("html",)).get_content(),
            message.message.get_body(("plain",)).get_content())


def _hrefs(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]


def test_off_by_default_links_go_straight_to_where_they_point(app, smtp):
    _send(app, count_clicks=False)
    for message in smtp.messages:
        html, text = _parts(message)
        assert "https://example.org/more?a=1&b=2" in _hrefs(html)
        assert "/c/" not in html and "never per person" not in html + text
    with app.app_context():
        assert not db.session.get(MailingList, 1).count_clicks  # the default


def test_counted_links_name_no_one_count_per_link_and_redirect(app, smtp, admin_client):
    campaign_id = _send(app, count_clicks=True)
    counted, personal = [], []
    for message in smtp.messages:
        html, text = _parts(message)
        hrefs = _hrefs(html)
        counted += [h for h in hrefs if h.startswith("http://newsletter.test/c/")]
        personal += [h for h in hrefs if h.startswith("https://example.org/u?n=")]
        assert "mailto:team@example.org" in hrefs
        assert any(h.startswith("http://newsletter.test/u/") for h in hrefs)  # unsubscribe as is
        assert "https://example.org/more?a=1&b=2" not in hrefs
        assert "counted per link, never per person" in html and "never per person" in text
    assert len(counted) == 2 and counted[0] == counted[1]  # the same link for both readers
    assert len(set(personal)) == 2  # a link made per person is never wrapped
    token = counted[0].rsplit("/", 1)[1]
    assert tokens.load(app.config["SECRET_KEY"], clicks.CLICK, token) == [
        campaign_id, "https://example.org/more?a=1&b=2"]  # campaign and address, nobody

    public = app.test_client()
    for expected in (1, 2):
        response = public.get(f"/c/{token}")
        assert response.status_code == 302
        assert response.headers["Location"] == "https://example.org/more?a=1&b=2"
        assert "Set-Cookie" not in response.headers
        with app.app_context():
            assert db.session.execute(select(LinkClick.campaign_id, LinkClick.url,
                                             LinkClick.clicks)).all() == [
                (campaign_id, "https://example.org/more?a=1&b=2", expected)]
    assert public.get(f"/c/{token[:-2]}xx").status_code == 404
    assert public.get("/c/" + tokens.sign(app.config["SECRET_KEY"], tokens.UNSUBSCRIBE,
                                          [campaign_id, "https://evil.example/"])).status_code \
        == 404  # another purpose's signature opens nothing

    page = admin_client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert re.search(r"<td>https://example.org/more\?a=1&amp;b=2</td><td>2</td>", page)

    # Turned off on the list: old links still lead where they did, and count no more.
    token_form = csrf_token(admin_client, "/admin/lists/1")
    admin_client.post("/admin/lists/1", data={"csrf_token": token_form, "name": "Weekly News",
                                              "double_opt_in": "on", "default_language": "en"})
    with app.app_context():
        assert not db.session.get(MailingList, 1).count_clicks
    assert public.get(f"/c/{token}").headers["Location"] == "https://example.org/more?a=1&b=2"
    with app.app_context():
        assert db.session.scalar(select(LinkClick.clicks)) == 2


def test_the_list_form_turns_counting_on(app, admin_client):
    with app.app_context():
        list_id = make_list(db.session).id
    token = csrf_token(admin_client, f"/admin/lists/{list_id}")
    admin_client.post(f"/admin/lists/{list_id}", data={
        "csrf_token": token, "name": "Weekly News", "double_opt_in": "on",
        "default_language": "en", "count_clicks": "on"})
    with app.app_context():
        assert db.session.get(MailingList, list_id).count_clicks
    assert "checked> Count clicks per link" in admin_client.get(
        f"/admin/lists/{list_id}").get_data(as_text=True)
