"""admin sessions that can be ended; API tokens with a role and an expiry

Revision ID: 7c1e2a9d4b50
Revises: 39f3111fdaef
Create Date: 2026-12-02 17:40:00.000000

"""
from alembic import op
import sqlalchemy as sa

import newsletter.models.base


# revision identifiers, used by Alembic.
revision = '7c1e2a9d4b50'
down_revision = '39f3111fdaef'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='1',
                                      nullable=False))
    # Tokens made before roles existed could do everything: they become admin tokens.
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.Enum('admin', 'marketer', 'privacy', 'read-only',
                                                      name='role', native_enum=False, length=32),
                                      server_default='admin', nullable=False))
        batch_op.add_column(sa.Column('expires_at',
                                      newsletter.models.base.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade():
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('role')
    with op.batch_alter_table('admin_user', schema=None) as batch_op:
        batch_op.drop_column('session_version')
