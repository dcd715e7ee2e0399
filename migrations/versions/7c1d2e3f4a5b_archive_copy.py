"""archive copy: a sent issue rendered once per list for the public archive

Revision ID: 7c1d2e3f4a5b
Revises: 7c1e2a9d4b50
Create Date: 2026-12-02 17:58:00

"""
from alembic import op
import sqlalchemy as sa

import newsletter.models.base


# revision identifiers, used by Alembic.
revision = '7c1d2e3f4a5b'
down_revision = '7c1e2a9d4b50'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('archive_copy',
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('rendered_at', newsletter.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaign.id'], name=op.f('fk_archive_copy_campaign_id_campaign'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['list_id'], ['mailing_list.id'], name=op.f('fk_archive_copy_list_id_mailing_list'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('campaign_id', 'list_id', name=op.f('pk_archive_copy'))
    )


def downgrade():
    op.drop_table('archive_copy')
