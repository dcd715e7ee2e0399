"""subscriber.language and mailing_list.default_language

Revision ID: f3c9a2d7e1b5
Revises: d5f1a2b3c4e6
Create Date: 2026-12-03 00:20:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'f3c9a2d7e1b5'
down_revision = 'f3a8c1d5e7b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('subscriber') as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
    with op.batch_alter_table('mailing_list') as batch_op:
        batch_op.add_column(sa.Column('default_language', sa.String(length=8), nullable=False,
                                      server_default='en'))


def downgrade():
    with op.batch_alter_table('mailing_list') as batch_op:
        batch_op.drop_column('default_language')
    with op.batch_alter_table('subscriber') as batch_op:
        batch_op.drop_column('language')
