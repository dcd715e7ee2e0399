"""A list's postal address, shown in the footer of every newsletter (CAN-SPAM)

Revision ID: d4f2a8c6e1b3
Revises: c3e8f1a6d2b9
Create Date: 2026-12-03 09:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd4f2a8c6e1b3'
down_revision = 'c3e8f1a6d2b9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mailing_list') as batch:
        batch.add_column(sa.Column('postal_address', sa.String(length=500), nullable=False,
                                   server_default=''))


def downgrade():
    with op.batch_alter_table('mailing_list') as batch:
        batch.drop_column('postal_address')
