"""webhook, webhook_delivery, provider_nonce: outgoing event webhooks and provider replay guard

Revision ID: e5a7c3b9d1f4
Revises: d5f1a7c3e9b2
Create Date: 2026-12-02 23:30:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e5a7c3b9d1f4'
down_revision = 'd5f1a7c3e9b2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'webhook',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('secret', sa.String(length=200), nullable=False),
        sa.Column('events', sa.JSON(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook')),
    )
    op.create_table(
        'webhook_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('webhook_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_response', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['webhook_id'], ['webhook.id'],
                                name=op.f('fk_webhook_delivery_webhook_id_webhook'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
    )
    op.create_index('ix_webhook_delivery_status_next', 'webhook_delivery',
                    ['status', 'next_attempt_at'], unique=False)
    op.create_table(
        'provider_nonce',
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_provider_nonce')),
    )
    op.create_index(op.f('ix_provider_nonce_seen_at'), 'provider_nonce', ['seen_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_provider_nonce_seen_at'), table_name='provider_nonce')
    op.drop_table('provider_nonce')
    op.drop_index('ix_webhook_delivery_status_next', table_name='webhook_delivery')
    op.drop_table('webhook_delivery')
    op.drop_table('webhook')
