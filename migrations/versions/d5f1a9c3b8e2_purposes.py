"""purposes: new uses of data (purpose), who was told (purpose_notice), campaign.purpose_id

Revision ID: d5f1a9c3b8e2
Revises: c4e8a1f2d7b3
Create Date: 2026-12-02 23:30:00

"""
import sqlalchemy as sa
from alembic import op

import newsletter.models.base

# revision identifiers, used by Alembic.
revision = 'd5f1a9c3b8e2'
down_revision = 'c4e8a1f2d7b3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'purpose',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('opt_in_countries', sa.JSON(), nullable=False),
        sa.Column('created_at', newsletter.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('slug'),
    )
    op.create_table(
        'purpose_notice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('purpose_id', sa.Integer(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=False),
        sa.Column('mode', sa.String(length=8), nullable=False),
        sa.Column('notified_at', newsletter.models.base.UTCDateTime(timezone=True),
                  nullable=False),
        sa.ForeignKeyConstraint(['purpose_id'], ['purpose.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscriber_id', 'purpose_id', name='uq_purpose_notice_once'),
    )
    with op.batch_alter_table('purpose_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purpose_notice_purpose_id'), ['purpose_id'],
                              unique=False)
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_campaign_purpose_id_purpose', 'purpose', ['purpose_id'],
                                    ['id'])


def downgrade():
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_constraint('fk_campaign_purpose_id_purpose', type_='foreignkey')
        batch_op.drop_column('purpose_id')
    with op.batch_alter_table('purpose_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purpose_notice_purpose_id'))
    op.drop_table('purpose_notice')
    op.drop_table('purpose')
