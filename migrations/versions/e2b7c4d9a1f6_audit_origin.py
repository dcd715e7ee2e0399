"""audit_event.origin: where an action came from (IP for web and API, cli:user@host)

Revision ID: e2b7c4d9a1f6
Revises: d5f1a7c3e9b2
Create Date: 2026-12-02 23:50:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'e2b7c4d9a1f6'
down_revision = 'e5a7c3b9d1f4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=254), nullable=True))


def downgrade():
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('origin')
