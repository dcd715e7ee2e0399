"""outbound_mail: index (to_address, created_at) for the per-address mail limits

Revision ID: b3d9f0c2a6e1
Revises: b3d9f0c1e2a4
Create Date: 2026-12-02 18:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b3d9f0c2a6e1'
down_revision = 'b3d9f0c1e2a4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbound_mail', schema=None) as batch_op:
        batch_op.create_index('ix_outbound_mail_to_created', ['to_address', 'created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('outbound_mail', schema=None) as batch_op:
        batch_op.drop_index('ix_outbound_mail_to_created')
