"""What a campaign did, counted from records the system keeps anyway: no open pixel, no click
tracking, nothing per person that was not already there to deliver mail and honour requests.

Attribution rules, each defined once here:
- delivered: the mail server accepted the copy (Delivery sent) and no bounce came back for it.
- bounced: a BounceEvent of the campaign (hard or soft; a subscriber with both is hard), or a
  copy the server refused at send time (Delivery bounced).
- complaints: feedback reports (ARF or a sending service's event) that named the campaign and a
  subscriber and were acted on as complaints.
- unsubscribes: leaving one of the campaign's lists by one-click, the unsubscribe page or a
  reply, within ATTRIBUTION_WINDOW after the copy was sent, when no later copy from that list
  reached the person first. The unsubscribe token names subscriber and list only (it never
  expires, so its shape stays), hence the time window.
- replies: messages from people (not bounces, complaints or auto-replies) that carry the reply
  token of the campaign's copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, distinct, exists, func, not_, select
from sqlalchemy.orm import Session

from newsletter.models import (
    BounceDecision,
    BounceEvent,
    Campaign,
    ConsentEvent,
    ConsentMethod,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    MailingList,
    campaign_lists,
)

ATTRIBUTION_WINDOW = timedelta(days=7)
UNSUBSCRIBE_METHODS = (ConsentMethod.one_click, ConsentMethod.link, ConsentMethod.reply)
# InboundMessage.verdict values written by machines, not by the person (inbound/classify.Kind).
MACHINE_VERDICTS = ("bounce_hard", "bounce_soft", "complaint", "auto_reply")
# Gmail and Yahoo bulk-sender rules (February 2024): keep the spam complaint rate below 0.3%.
COMPLAINT_RATE_LIMIT = 0.003


@dataclass(frozen=True)
class CampaignAnalytics:
    """Aggregate figures of one campaign."""

    campaign_id: int
    accepted: int  # copies the mail server took
    delivered: int
    bounced_hard: int
    bounced_soft: int
    complaints: int
    unsubscribes: int
    unsubscribes_by_method: dict[str, int]
    replies: int

    @property
    def bounced(self) -> int:
        """Hard and soft bounces together."""
        return self.bounced_hard + self.bounced_soft

    def rate(self, count: int) -> float:
        """`count` as a share of the copies the server accepted (0 when none were)."""
        return count / self.accepted if self.accepted else 0.0

    @property
    def complaint_rate_too_high(self) -> bool:
        """At or over the line Gmail and Yahoo enforce."""
        return self.rate(self.complaints) >= COMPLAINT_RATE_LIMIT

    def as_dict(self) -> dict:
        """The figures as the API returns them."""
        return {
            "delivered": self.delivered, "accepted": self.accepted,
            "bounced": {"hard": self.bounced_hard, "soft": self.bounced_soft},
            "complaints": self.complaints,
            "unsubscribes": self.unsubscribes,
            "unsubscribes_by_method": self.unsubscribes_by_method,
            "replies": self.replies,
            "rates": {"bounce": self.rate(self.bounced),
                      "complaint": self.rate(self.complaints),
                      "unsubscribe": self.rate(self.unsubscribes)},
        }


def for_campaign(session: Session, campaign_id: int) -> CampaignAnalytics:
    """Delivered, bounced, complaints, attributed unsubscribes and replies of one campaign."""
    hard, soft = _bounced(session, campaign_id)
    sent = (Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.sent)
    # Counted in SQL on ix_delivery_campaign_status: a campaign may have a million copies.
    accepted = session.scalar(select(func.count()).select_from(Delivery).where(*sent)) or 0
    bounced_after = session.scalar(select(func.count()).select_from(Delivery).where(
        *sent, Delivery.subscriber_id.in_(select(BounceEvent.subscriber_id).where(
            BounceEvent.campaign_id == campaign_id,
            BounceEvent.decision.in_([BounceDecision.hard, BounceDecision.soft]))))) or 0
    campaign = session.get(Campaign, campaign_id)
    by_method = _unsubscribes(session, campaign) if campaign is not None else {}
    complaints = session.scalar(select(func.count(distinct(InboundMessage.subscriber_id))).where(
        InboundMessage.campaign_id == campaign_id, InboundMessage.verdict == "complaint",
        InboundMessage.subscriber_id.is_not(None),
        # Reports that are not a person's complaint (DMARC failures, "not-spam") say so here.
        not_(InboundMessage.action.like("recorded:%")))) or 0
    replies = session.scalar(select(func.count(InboundMessage.id)).where(
        InboundMessage.campaign_id == campaign_id,
        InboundMessage.verdict.not_in(MACHINE_VERDICTS))) or 0
    return CampaignAnalytics(
        campaign_id=campaign_id, accepted=accepted,
        delivered=accepted - bounced_after, bounced_hard=len(hard),
        bounced_soft=len(soft - hard), complaints=complaints,
        unsubscribes=sum(by_method.values()), unsubscribes_by_method=by_method, replies=replies)


def _bounced(session: Session, campaign_id: int) -> tuple[set[int], set[int]]:
    """Subscribers with a hard and with a soft bounce of this campaign."""
    hard, soft = set(), set()
    for subscriber_id, decision in session.execute(
            select(BounceEvent.subscriber_id, BounceEvent.decision).where(
                BounceEvent.campaign_id == campaign_id,
                BounceEvent.decision.in_([BounceDecision.hard, BounceDecision.soft]))
            .distinct()):
        (hard if decision is BounceDecision.hard else soft).add(subscriber_id)
    # Refused at send time with no BounceEvent of the campaign: soft, the reply said no more.
    refused = session.scalars(select(Delivery.subscriber_id).where(
        Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.bounced))
    soft.update(s for s in refused if s not in hard)
    return hard, soft


def _unsubscribes(session: Session, campaign: Campaign) -> dict[str, int]:
    """Withdrawals from the campaign's lists attributed to it, counted by method.

    Read from the withdrawals of those lists since the campaign started (ix_consent_event_purpose_at),
    each matched to its copy by uq_delivery_campaign_subscriber: never a scan of all copies.
    """
    if campaign.started_at is None:
        return {}
    campaign_id = campaign.id
    in_time = [ConsentEvent.at >= campaign.started_at]
    if campaign.finished_at is not None:
        in_time.append(ConsentEvent.at <= campaign.finished_at + ATTRIBUTION_WINDOW)
    purpose = "newsletter:" + MailingList.slug
    ours = select(purpose).join(campaign_lists, campaign_lists.c.list_id == MailingList.id).where(
        campaign_lists.c.campaign_id == campaign_id)
    copy = Delivery.__table__.alias("copy")
    later = Delivery.__table__.alias("later")
    later_lists = campaign_lists.alias("later_lists")
    later_list = MailingList.__table__.alias("later_list")
    # A later copy from the same list, sent before the unsubscribe, takes the attribution.
    superseded = exists().select_from(later.join(
        later_lists, later_lists.c.campaign_id == later.c.campaign_id).join(
        later_list, later_list.c.id == later_lists.c.list_id)).where(
        later.c.subscriber_id == copy.c.subscriber_id, later.c.campaign_id != campaign_id,
        later.c.status == DeliveryStatus.sent.value, later.c.sent_at > copy.c.sent_at,
        later.c.sent_at <= ConsentEvent.at,
        ("newsletter:" + later_list.c.slug) == ConsentEvent.purpose)
    rows = session.execute(
        select(ConsentEvent.id, ConsentEvent.method, ConsentEvent.at, copy.c.sent_at)
        .join(copy, and_(copy.c.subscriber_id == ConsentEvent.subscriber_id,
                         copy.c.campaign_id == campaign_id,
                         copy.c.status == DeliveryStatus.sent.value))
        .where(ConsentEvent.granted.is_(False),
               ConsentEvent.method.in_(UNSUBSCRIBE_METHODS),
               ConsentEvent.purpose.in_(ours),
               *in_time, ConsentEvent.at >= copy.c.sent_at,
               not_(superseded))).all()
    counts: dict[str, int] = {}
    # The window in Python: date arithmetic in SQL differs between SQLite and PostgreSQL, and
    # these rows are the few who left after this copy.
    for _, method, at, sent_at in rows:
        if at <= _aware(sent_at) + ATTRIBUTION_WINDOW:
            counts[method.value] = counts.get(method.value, 0) + 1
    return counts


def _aware(moment: datetime) -> datetime:
    # A column read through an alias skips UTCDateTime: SQLite gives it back naive.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def recent_campaigns(session: Session, limit: int = 12) -> list[tuple[Campaign, CampaignAnalytics]]:
    """The last campaigns that sent something, oldest first, with their figures."""
    campaigns = session.scalars(select(Campaign).where(Campaign.started_at.is_not(None))
                                .order_by(Campaign.started_at.desc()).limit(limit)).all()
    return [(c, for_campaign(session, c.id)) for c in reversed(campaigns)]
