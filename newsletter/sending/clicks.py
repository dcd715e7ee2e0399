"""Aggregate click counts, per link per campaign, never per person (a list's choice, off by
default).

When a list has `count_clicks` on, compose hands the compiled HTML template to `wrap_links()`
once per campaign: each `<a href>` that is a fixed http(s) address (no template tag in it, so
the same for every reader) and not one of ours is replaced by `/c/<token>`, a token signed for
this purpose naming only the campaign and the address. Every recipient gets the very same
link, so a click can be counted and can never be told apart by person. Addresses with a
template tag (`{{ subscriber... }}`), our own links (unsubscribe, preferences, data requests,
archive) and mailto: stay as written. The footer says that clicks are counted (DISCLOSURE).

`follow()` checks the token, adds one to that link's count when the list still counts, and
gives the address back for the redirect. No IP, user agent, time or cookie is kept. A mail
scanner that opens links counts too: the figures are approximate.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter import tokens
from newsletter.models import Campaign, LinkClick, MailingList, campaign_lists

CLICK = tokens.Purpose("newsletter.click.v1")
MAX_URL = 2048
# What the footer says when clicks are counted, in the reader's words (sending/footer.py).
DISCLOSURE = '<p class="click-disclosure">{{ footer.clicks }}</p>'
TEXT_DISCLOSURE = "{{ footer.clicks }}\n"
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_TEMPLATE = re.compile(r"\{\{|\{%|\}\}|%\}")


def click_url(config: Mapping, campaign_id: int, url: str) -> str:
    """The counted link to `url` in this campaign: the same for every reader."""
    token = tokens.sign(config["SECRET_KEY"], CLICK, [campaign_id, url])
    return f"{config['NEWSLETTER_BASE_URL'].rstrip('/')}/c/{token}"


def _countable(url: str, own: str) -> bool:
    return (url.lower().startswith(("http://", "https://")) and len(url) <= MAX_URL
            and not _TEMPLATE.search(url) and not url.startswith(own))


def wrap_links(source: str, campaign_id: int, config: Mapping) -> str:
    """The HTML template with fixed outside links counted, and the disclosure in the footer."""
    own = config["NEWSLETTER_BASE_URL"].rstrip("/") + "/"

    def wrap(match: re.Match) -> str:
        url = html.unescape(match.group(3)).strip()
        if not _countable(url, own):
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{html.escape(click_url(config, campaign_id, url))}{quote}"

    wrapped = _HREF.sub(wrap, source)
    if "</body>" in wrapped:
        return wrapped.replace("</body>", DISCLOSURE + "</body>", 1)
    return wrapped + DISCLOSURE


class ClickError(ValueError):
    """The click link is not one of ours."""


def follow(session: Session, config: Mapping, token: str) -> str:
    """Count one click of a link (when its campaign's list counts) and return the address."""
    try:
        campaign_id, url = tokens.load(config["SECRET_KEY"], CLICK, token)
        campaign_id, url = int(campaign_id), str(url)
    except (tokens.TokenError, TypeError, ValueError):
        raise ClickError("This link is not valid.") from None
    if not _countable(url, "\0"):
        raise ClickError("This link is not valid.")
    counting = session.scalar(
        select(MailingList.id).join(campaign_lists, campaign_lists.c.list_id == MailingList.id)
        .join(Campaign, Campaign.id == campaign_lists.c.campaign_id)
        .where(Campaign.id == campaign_id, MailingList.count_clicks.is_(True)).limit(1))
    if counting is not None:
        insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql"
                  else sqlite.insert)(LinkClick)
        # One statement: concurrent clicks on the same link add up, none is lost.
        session.execute(insert.values(campaign_id=campaign_id, url=url, clicks=1)
                        .on_conflict_do_update(index_elements=["campaign_id", "url"],
                                               set_={"clicks": LinkClick.clicks + 1}))
    return url


def counts(session: Session, campaign_id: int) -> list[tuple[str, int]]:
    """The campaign's links with their click counts, most clicked first."""
    return [(row.url, row.clicks) for row in session.execute(
        select(LinkClick.url, LinkClick.clicks).where(LinkClick.campaign_id == campaign_id)
        .order_by(LinkClick.clicks.desc(), LinkClick.url))]
