"""segment (saved filters on a list) and campaign.segment_id

Revision ID: d5f1a7c3e9b2
Revises: c4e8a1f2d7b3
Create Date: 2026-12-02 23:30:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd5f1a7c3e9b2'
down_revision = 'd5a7c3e9b1f4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'segment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('slug', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('list_id', sa.Integer(), nullable=False),
        sa.Column('rules', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(['list_id'], ['mailing_list.id'],
                                name=op.f('fk_segment_list_id_mailing_list'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_segment')),
        sa.UniqueConstraint('slug', name=op.f('uq_segment_slug')),
    )
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('segment_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_campaign_segment_id_segment'), 'segment',
                                    ['segment_id'], ['id'], ondelete='RESTRICT')


def downgrade():
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_campaign_segment_id_segment'), type_='foreignkey')
        batch_op.drop_column('segment_id')
    op.drop_table('segment')
