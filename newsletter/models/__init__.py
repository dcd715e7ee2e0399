"""The data model of DESIGN.md section 3, split by domain concept.

Import models from here: `from newsletter.models import Subscriber`.
"""

from newsletter.models.admin import AdminSession, AdminSetting, AdminUser, ApiToken, AuditEvent, Role
from newsletter.models.base import MAX_ID, UTCDateTime, savepoint, utcnow
from newsletter.models.bounces import BounceDecision, BounceEvent
from newsletter.models.campaigns import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    LinkClick,
    OutboundMail,
    SendWindow,
    campaign_lists,
)
from newsletter.models.inbound import InboundMessage, InboundStatus
from newsletter.models.integrations import ProviderNonce, Webhook, WebhookDelivery
from newsletter.models.layouts import Layout, LayoutFormat
from newsletter.models.privacy import (
    PolicyNotice,
    PolicyVersion,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Purpose,
    PurposeNotice,
)
from newsletter.models.segments import Segment
from newsletter.models.subscribers import (
    ConsentEvent,
    ConsentMethod,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)

__all__ = [
    "MAX_ID",
    "AdminSession",
    "AdminSetting",
    "AdminUser",
    "ApiToken",
    "AuditEvent",
    "BounceDecision",
    "BounceEvent",
    "Campaign",
    "CampaignStatus",
    "ConsentEvent",
    "ConsentMethod",
    "Delivery",
    "DeliveryStatus",
    "InboundMessage",
    "InboundStatus",
    "Layout",
    "LayoutFormat",
    "LinkClick",
    "MailingList",
    "OutboundMail",
    "PolicyNotice",
    "PolicyVersion",
    "PrivacyRequest",
    "PrivacyRequestKind",
    "PrivacyRequestStatus",
    "ProviderNonce",
    "Purpose",
    "PurposeNotice",
    "Role",
    "Segment",
    "SendWindow",
    "Subscriber",
    "SubscriberStatus",
    "Subscription",
    "SubscriptionStatus",
    "Suppression",
    "SuppressionReason",
    "UTCDateTime",
    "Webhook",
    "WebhookDelivery",
    "campaign_lists",
    "savepoint",
    "utcnow",
]
