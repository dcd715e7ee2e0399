"""inbound_message: key on Message-ID plus the sha256 of the bytes (raw_digest)

A second message that reuses a Message-ID with other bytes is read, not skipped. Rows whose bytes
are still kept get their digest; the rest keep NULL.

Revision ID: d5a7c3e9b1f4
Revises: c4e8a1f2d7b3
Create Date: 2026-12-02 23:30:00

"""
import hashlib

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd5a7c3e9b1f4'
down_revision = 'd5f1a9c3b8e2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_digest', sa.String(length=64), nullable=True))
        batch_op.drop_constraint('uq_inbound_message_message_key', type_='unique')
        batch_op.create_unique_constraint('uq_inbound_message_key_digest',
                                          ['message_key', 'raw_digest'])
    table = sa.table('inbound_message', sa.column('id', sa.Integer),
                     sa.column('raw', sa.LargeBinary), sa.column('raw_digest', sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(table.c.id, table.c.raw).where(table.c.raw.is_not(None)))
    for row_id, raw in rows.fetchall():
        connection.execute(table.update().where(table.c.id == row_id).values(
            raw_digest=hashlib.sha256(bytes(raw)).hexdigest()))


def downgrade():
    # Rows that share a Message-ID cannot all keep it under the old unique key: the later ones
    # get their digest appended, so nothing is lost.
    table = sa.table('inbound_message', sa.column('id', sa.Integer),
                     sa.column('message_key', sa.String), sa.column('raw_digest', sa.String))
    connection = op.get_bind()
    seen = set()
    for row_id, key, digest in connection.execute(
            sa.select(table.c.id, table.c.message_key, table.c.raw_digest)
            .order_by(table.c.id)).fetchall():
        if key in seen:
            connection.execute(table.update().where(table.c.id == row_id).values(
                message_key=f"{key[:180]}#{digest or row_id}"))
        seen.add(key)
    with op.batch_alter_table('inbound_message', schema=None) as batch_op:
        batch_op.drop_constraint('uq_inbound_message_key_digest', type_='unique')
        batch_op.create_unique_constraint('uq_inbound_message_message_key', ['message_key'])
        batch_op.drop_column('raw_digest')
