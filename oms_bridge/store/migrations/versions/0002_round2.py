"""round2: the store's changes since revision 0001 (by oms_bridge.store.migrations.regenerate).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from oms_bridge.store import types as store_types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None
# Timestamp of the iDempiere-style SQL file name (sql/postgresql/<stamp>_oms-bridge_<rev>_<slug>.sql).
sql_stamp = '202612061900'


def upgrade() -> None:
    op.create_table('oms_admin_login_failure',
    sa.Column('username', sa.String(length=60), nullable=False),
    sa.Column('client_ip', sa.String(length=45), nullable=False),
    sa.Column('failed_at', store_types.UtcDateTime(), nullable=False),
    sa.Column('ad_client_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('ad_org_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('createdby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updatedby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('oms_admin_login_failure_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('oms_admin_login_failure_uu', sa.Uuid(), nullable=False),
    sa.Column('isactive', store_types.YesNo(), server_default=sa.text("'Y'"), nullable=False),
    sa.CheckConstraint("isactive IN ('Y','N')", name=op.f('oms_admin_login_failure_isactive_ck')),
    sa.PrimaryKeyConstraint('oms_admin_login_failure_id', name=op.f('oms_admin_login_failure_key')),
    sa.UniqueConstraint('oms_admin_login_failure_uu', name=op.f('oms_admin_login_failure_uu_idx'))
    )
    with op.batch_alter_table('oms_admin_login_failure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('oms_admin_login_failure_client_ip_ix'), ['client_ip'], unique=False)
        batch_op.create_index(batch_op.f('oms_admin_login_failure_failed_at_ix'), ['failed_at'], unique=False)
        batch_op.create_index(batch_op.f('oms_admin_login_failure_username_ix'), ['username'], unique=False)

    op.create_table('oms_admin_session',
    sa.Column('oms_admin_user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', store_types.UtcDateTime(), nullable=False),
    sa.Column('ad_client_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('ad_org_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('createdby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updatedby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('oms_admin_session_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('oms_admin_session_uu', sa.Uuid(), nullable=False),
    sa.Column('isactive', store_types.YesNo(), server_default=sa.text("'Y'"), nullable=False),
    sa.CheckConstraint("isactive IN ('Y','N')", name=op.f('oms_admin_session_isactive_ck')),
    sa.ForeignKeyConstraint(['oms_admin_user_id'], ['oms_admin_user.oms_admin_user_id'], name=op.f('omsadminuser_omsadminsession'), initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('oms_admin_session_id', name=op.f('oms_admin_session_key')),
    sa.UniqueConstraint('oms_admin_session_uu', name=op.f('oms_admin_session_uu_idx')),
    sa.UniqueConstraint('token_hash', name=op.f('oms_admin_session_token_hash_uq'))
    )
    with op.batch_alter_table('oms_admin_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('oms_admin_session_oms_admin_user_id_ix'), ['oms_admin_user_id'], unique=False)

    with op.batch_alter_table('oms_admin_user', schema=None) as batch_op:
        batch_op.alter_column('session_key_enc',
               existing_type=sa.TEXT(),
               nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('oms_admin_user', schema=None) as batch_op:
        batch_op.alter_column('session_key_enc',
               existing_type=sa.TEXT(),
               nullable=False)

    with op.batch_alter_table('oms_admin_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('oms_admin_session_oms_admin_user_id_ix'))

    op.drop_table('oms_admin_session')
    with op.batch_alter_table('oms_admin_login_failure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('oms_admin_login_failure_username_ix'))
        batch_op.drop_index(batch_op.f('oms_admin_login_failure_failed_at_ix'))
        batch_op.drop_index(batch_op.f('oms_admin_login_failure_client_ip_ix'))

    op.drop_table('oms_admin_login_failure')
