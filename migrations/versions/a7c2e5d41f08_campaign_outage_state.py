"""campaign outage state: waiting_since, waiting_reply, paused_reason

Revision ID: a7c2e5d41f08
Revises: 7c1d2e3f4a5b
Create Date: 2026-12-02 17:45:00

"""
from alembic import op
import sqlalchemy as sa

import newsletter.models.base


# revision identifiers, used by Alembic.
revision = 'a7c2e5d41f08'
down_revision = '7c1d2e3f4a5b'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waiting_since', newsletter.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('waiting_reply', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('paused_reason', sa.String(length=500), nullable=True))


def downgrade():
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_column('paused_reason')
        batch_op.drop_column('waiting_reply')
        batch_op.drop_column('waiting_since')
