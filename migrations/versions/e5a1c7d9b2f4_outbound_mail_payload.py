"""outbound_mail.payload: mail rendered by the sender, not by the request that queued it

Revision ID: e5a1c7d9b2f4
Revises: c4e8a1f2d7b3
Create Date: 2026-12-02 23:30:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e5a1c7d9b2f4'
down_revision = 'd5f1a2b3c4e6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbound_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('outbound_mail', schema=None) as batch_op:
        batch_op.drop_column('payload')
