"""mailing_list.form_fields: a list's extra fields on its public form

Revision ID: a7c2e9f4b1d3
Revises: a1c4e7b2d9f3
Create Date: 2026-12-03 05:45:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a7c2e9f4b1d3'
down_revision = 'a1c4e7b2d9f3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mailing_list') as batch_op:
        batch_op.add_column(sa.Column('form_fields', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('mailing_list') as batch_op:
        batch_op.drop_column('form_fields')
