"""policy notices: owed rows (how and delivered_at empty), their partial index, published_by

Revision ID: b3d9f0c1e2a4
Revises: a7c2e5d41f08
Create Date: 2026-12-02 18:20:00

"""
from alembic import op
import sqlalchemy as sa

import newsletter.models.base


# revision identifiers, used by Alembic.
revision = 'b3d9f0c1e2a4'
down_revision = 'a7c2e5d41f08'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('policy_version', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_by', sa.String(length=255), nullable=False,
                                      server_default=''))
    with op.batch_alter_table('policy_notice', schema=None) as batch_op:
        batch_op.alter_column('how', existing_type=sa.String(length=16), nullable=True)
        batch_op.alter_column('delivered_at',
                              existing_type=newsletter.models.base.UTCDateTime(timezone=True),
                              nullable=True)
        batch_op.create_index('ix_policy_notice_owed', ['subscriber_id', 'policy_version_id'],
                              unique=False, postgresql_where=sa.text('delivered_at IS NULL'),
                              sqlite_where=sa.text('delivered_at IS NULL'))


def downgrade():
    op.execute("DELETE FROM policy_notice WHERE delivered_at IS NULL")
    with op.batch_alter_table('policy_notice', schema=None) as batch_op:
        batch_op.drop_index('ix_policy_notice_owed')
        batch_op.alter_column('delivered_at',
                              existing_type=newsletter.models.base.UTCDateTime(timezone=True),
                              nullable=False)
        batch_op.alter_column('how', existing_type=sa.String(length=16), nullable=False)
    with op.batch_alter_table('policy_version', schema=None) as batch_op:
        batch_op.drop_column('published_by')
