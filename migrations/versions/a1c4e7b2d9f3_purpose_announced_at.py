"""purpose.announced_at: from the first announce on, newcomers are told too

Revision ID: a1c4e7b2d9f3
Revises: f3c9a2d7e1b5
Create Date: 2026-12-03 06:20:00

"""
import sqlalchemy as sa
from alembic import op

import newsletter.models.base


# revision identifiers, used by Alembic.
revision = 'a1c4e7b2d9f3'
down_revision = 'f3c9a2d7e1b5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('purpose') as batch_op:
        batch_op.add_column(sa.Column('announced_at', newsletter.models.base.UTCDateTime(timezone=True),
                                      nullable=True))
    # A purpose someone was told about has been announced.
    op.execute("UPDATE purpose SET announced_at = (SELECT min(n.notified_at) FROM purpose_notice n"
               " WHERE n.purpose_id = purpose.id)")


def downgrade():
    with op.batch_alter_table('purpose') as batch_op:
        batch_op.drop_column('announced_at')
