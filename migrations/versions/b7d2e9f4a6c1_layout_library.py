"""layout: a library of layouts per list (HTML or MJML); campaign.layout_id; the old
mailing_list.layout becomes each list's default library entry

Revision ID: b7d2e9f4a6c1
Revises: a7c2e9f4b1d3
Create Date: 2026-12-03 06:00:00

"""
import sqlalchemy as sa
from alembic import op

import newsletter.models.base


# revision identifiers, used by Alembic.
revision = 'b7d2e9f4a6c1'
down_revision = 'a7c2e9f4b1d3'
branch_labels = None
depends_on = None

# The name a list's one layout gets in its library (DESIGN.md: why the column goes).
MIGRATED_NAME = 'Layout before the library'


def upgrade():
    op.create_table(
        'layout',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('list_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('source_format', sa.Enum('html', 'mjml', name='layoutformat', native_enum=False,
                                           length=32), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('html', sa.Text(), nullable=False),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.Column('updated_at', newsletter.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_by', sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(['list_id'], ['mailing_list.id'],
                                name=op.f('fk_layout_list_id_mailing_list'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_layout')),
        sa.UniqueConstraint('list_id', 'name', name='uq_layout_list_name'),
    )
    op.create_index('uq_layout_list_default', 'layout', ['list_id'], unique=True,
                    sqlite_where=sa.text('is_default'), postgresql_where=sa.text('is_default'))
    # Each list's layout, as it was, becomes its default: campaigns look the same after this.
    op.execute(sa.text(
        "INSERT INTO layout (list_id, name, source_format, source, html, is_default, updated_at,"
        " updated_by) SELECT id, :name, 'html', layout, layout, TRUE, CURRENT_TIMESTAMP,"
        " 'migration' FROM mailing_list WHERE layout IS NOT NULL AND layout <> ''"
    ).bindparams(name=MIGRATED_NAME))
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.add_column(sa.Column('layout_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_campaign_layout_id_layout'), 'layout',
                                    ['layout_id'], ['id'], ondelete='SET NULL')
    with op.batch_alter_table('mailing_list', schema=None) as batch_op:
        batch_op.drop_column('layout')


def downgrade():
    with op.batch_alter_table('mailing_list', schema=None) as batch_op:
        batch_op.add_column(sa.Column('layout', sa.Text(), nullable=True))
    # Back to one layout per list: the default's HTML (what campaigns were wrapped in).
    op.execute("UPDATE mailing_list SET layout = (SELECT l.html FROM layout l"
               " WHERE l.list_id = mailing_list.id AND l.is_default)")
    with op.batch_alter_table('campaign', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_campaign_layout_id_layout'), type_='foreignkey')
        batch_op.drop_column('layout_id')
    op.drop_index('uq_layout_list_default', table_name='layout')
    op.drop_table('layout')
