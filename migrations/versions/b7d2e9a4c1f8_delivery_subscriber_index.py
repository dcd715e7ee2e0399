"""Index of one subscriber's deliveries: segment rule last_mailed, subscriber timeline

Revision ID: b7d2e9a4c1f8
Revises: b7d2e9f4a6c1
Create Date: 2026-12-03 06:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7d2e9a4c1f8'
down_revision = 'b7d2e9f4a6c1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_delivery_subscriber_sent', 'delivery', ['subscriber_id', 'sent_at'])


def downgrade():
    op.drop_index('ix_delivery_subscriber_sent', table_name='delivery')
