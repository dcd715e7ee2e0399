"""Indexes for campaign analytics: bounces, replies and complaints by campaign; withdrawals by
purpose and time (sending/analytics.py)

Revision ID: f3a8c1d5e7b2
Revises: d5f1a2b3c4e6
Create Date: 2026-12-03 00:25:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f3a8c1d5e7b2'
down_revision = 'e5a1c7d9b2f4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_bounce_event_campaign', 'bounce_event', ['campaign_id'])
    op.create_index('ix_inbound_message_campaign', 'inbound_message', ['campaign_id'])
    op.create_index('ix_consent_event_purpose_at', 'consent_event', ['purpose', 'at'])


def downgrade():
    op.drop_index('ix_consent_event_purpose_at', table_name='consent_event')
    op.drop_index('ix_inbound_message_campaign', table_name='inbound_message')
    op.drop_index('ix_bounce_event_campaign', table_name='bounce_event')
