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
    with op.batch_alter_table('oms_process_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat', store_types.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oms_process_run', schema=None) as batch_op:
        batch_op.drop_column('heartbeat')
