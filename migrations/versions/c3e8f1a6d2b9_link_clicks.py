"""Aggregate click counts per link per campaign, off by default per list

Revision ID: c3e8f1a6d2b9
Revises: b7d2e9a4c1f8
Create Date: 2026-12-03 06:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3e8f1a6d2b9'
down_revision = 'b7d2e9a4c1f8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mailing_list') as batch:
        batch.add_column(sa.Column('count_clicks', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        'link_click',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('clicks', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('campaign_id', 'url', name='uq_link_click_campaign_url'),
    )


def downgrade():
    op.drop_table('link_click')
    with op.batch_alter_table('mailing_list') as batch:
        batch.drop_column('count_clicks')
