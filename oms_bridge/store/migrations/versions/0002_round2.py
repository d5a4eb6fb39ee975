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

    op.create_table('oms_alert',
    sa.Column('alert_key', sa.String(length=255), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=120), nullable=True),
    sa.Column('state', sa.String(length=10), server_default='firing', nullable=False),
    sa.Column('episode', sa.Integer(), server_default='1', nullable=False),
    sa.Column('since', store_types.UtcDateTime(), nullable=True),
    sa.Column('fired_at', store_types.UtcDateTime(), nullable=False),
    sa.Column('last_seen', store_types.UtcDateTime(), nullable=True),
    sa.Column('resolved_at', store_types.UtcDateTime(), nullable=True),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('fix', sa.Text(), nullable=True),
    sa.Column('ad_client_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('ad_org_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('createdby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updatedby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('oms_alert_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('oms_alert_uu', sa.Uuid(), nullable=False),
    sa.Column('isactive', store_types.YesNo(), server_default=sa.text("'Y'"), nullable=False),
    sa.CheckConstraint("isactive IN ('Y','N')", name=op.f('oms_alert_isactive_ck')),
    sa.PrimaryKeyConstraint('oms_alert_id', name=op.f('oms_alert_key')),
    sa.UniqueConstraint('alert_key', name=op.f('oms_alert_alert_key_uq')),
    sa.UniqueConstraint('oms_alert_uu', name=op.f('oms_alert_uu_idx'))
    )
    with op.batch_alter_table('oms_alert', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('oms_alert_rule_ix'), ['rule'], unique=False)

    op.create_table('oms_alert_target',
    sa.Column('value', sa.String(length=60), nullable=False),
    sa.Column('url_enc', sa.Text(), nullable=False),
    sa.Column('url_hint', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('last_sent', store_types.UtcDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('ad_client_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('ad_org_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('createdby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updatedby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('oms_alert_target_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('oms_alert_target_uu', sa.Uuid(), nullable=False),
    sa.Column('isactive', store_types.YesNo(), server_default=sa.text("'Y'"), nullable=False),
    sa.CheckConstraint("isactive IN ('Y','N')", name=op.f('oms_alert_target_isactive_ck')),
    sa.PrimaryKeyConstraint('oms_alert_target_id', name=op.f('oms_alert_target_key')),
    sa.UniqueConstraint('oms_alert_target_uu', name=op.f('oms_alert_target_uu_idx')),
    sa.UniqueConstraint('value', name=op.f('oms_alert_target_value_uq'))
    )
    op.create_table('oms_product_ref',
    sa.Column('sku', sa.String(length=120), nullable=False),
    sa.Column('omnitron_product_id', sa.Integer(), nullable=False),
    sa.Column('ad_client_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('ad_org_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('createdby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updatedby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('oms_product_ref_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('oms_product_ref_uu', sa.Uuid(), nullable=False),
    sa.Column('isactive', store_types.YesNo(), server_default=sa.text("'Y'"), nullable=False),
    sa.CheckConstraint("isactive IN ('Y','N')", name=op.f('oms_product_ref_isactive_ck')),
    sa.PrimaryKeyConstraint('oms_product_ref_id', name=op.f('oms_product_ref_key')),
    sa.UniqueConstraint('oms_product_ref_uu', name=op.f('oms_product_ref_uu_idx')),
    sa.UniqueConstraint('sku', name=op.f('oms_product_ref_sku_uq'))
    )
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

    op.create_table('oms_alert_notice',
    sa.Column('oms_alert_id', sa.Integer(), nullable=True),
    sa.Column('alert_key', sa.String(length=255), nullable=False),
    sa.Column('episode', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('seq', sa.Integer(), server_default='0', nullable=False),
    sa.Column('status', sa.String(length=10), server_default='claimed', nullable=False),
    sa.Column('claimed_until', store_types.UtcDateTime(), nullable=True),
    sa.Column('claimed_by', sa.String(length=120), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('sent_at', store_types.UtcDateTime(), nullable=True),
    sa.Column('pending_targets', sa.String(length=255), nullable=True),
    sa.Column('targets_ok', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error_text', sa.Text(), nullable=True),
    sa.Column('ad_client_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('ad_org_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('createdby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updatedby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('oms_alert_notice_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('oms_alert_notice_uu', sa.Uuid(), nullable=False),
    sa.Column('isactive', store_types.YesNo(), server_default=sa.text("'Y'"), nullable=False),
    sa.CheckConstraint("isactive IN ('Y','N')", name=op.f('oms_alert_notice_isactive_ck')),
    sa.ForeignKeyConstraint(['oms_alert_id'], ['oms_alert.oms_alert_id'], name=op.f('omsalert_omsalertnotice'), ondelete='CASCADE', initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('oms_alert_notice_id', name=op.f('oms_alert_notice_key')),
    sa.UniqueConstraint('alert_key', 'episode', 'kind', 'seq', name='oms_alert_notice_claim_uq'),
    sa.UniqueConstraint('oms_alert_notice_uu', name=op.f('oms_alert_notice_uu_idx'))
    )
    with op.batch_alter_table('oms_alert_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('oms_alert_notice_claimed_until_ix'), ['claimed_until'], unique=False)
        batch_op.create_index(batch_op.f('oms_alert_notice_oms_alert_id_ix'), ['oms_alert_id'], unique=False)

    op.create_table('oms_reconciliation',
    sa.Column('oms_channel_id', sa.Integer(), nullable=False),
    sa.Column('oms_process_run_id', sa.Integer(), nullable=True),
    sa.Column('first_day', sa.Date(), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('started', store_types.UtcDateTime(), nullable=False),
    sa.Column('ended', store_types.UtcDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=20), server_default='running', nullable=False),
    sa.Column('listed', sa.Integer(), nullable=True),
    sa.Column('stored', sa.Integer(), server_default='0', nullable=False),
    sa.Column('in_erp', sa.Integer(), nullable=True),
    sa.Column('oms_taken', sa.Integer(), nullable=True),
    sa.Column('missing', sa.Integer(), server_default='0', nullable=False),
    sa.Column('differences_total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('api_calls_marketplace', sa.Integer(), server_default='0', nullable=False),
    sa.Column('api_calls_erp', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error_text', sa.Text(), nullable=True),
    sa.Column('report_json', sa.Text(), nullable=True),
    sa.Column('ad_client_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('ad_org_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('createdby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updatedby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('oms_reconciliation_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('oms_reconciliation_uu', sa.Uuid(), nullable=False),
    sa.Column('isactive', store_types.YesNo(), server_default=sa.text("'Y'"), nullable=False),
    sa.CheckConstraint("isactive IN ('Y','N')", name=op.f('oms_reconciliation_isactive_ck')),
    sa.ForeignKeyConstraint(['oms_channel_id'], ['oms_channel.oms_channel_id'], name=op.f('omschannel_omsreconciliation'), ondelete='CASCADE', initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('oms_reconciliation_id', name=op.f('oms_reconciliation_key')),
    sa.UniqueConstraint('oms_reconciliation_uu', name=op.f('oms_reconciliation_uu_idx'))
    )
    with op.batch_alter_table('oms_reconciliation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('oms_reconciliation_oms_channel_id_ix'), ['oms_channel_id'], unique=False)

    op.create_table('oms_cancel_request',
    sa.Column('oms_order_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), server_default='open', nullable=False),
    sa.Column('reference', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('isallowed', store_types.YesNo(), nullable=True),
    sa.Column('requested_at', store_types.UtcDateTime(), nullable=True),
    sa.Column('seen_at', store_types.UtcDateTime(), nullable=False),
    sa.Column('order_version', sa.Integer(), nullable=True),
    sa.Column('decision', sa.String(length=20), nullable=True),
    sa.Column('decided_at', store_types.UtcDateTime(), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('answer_state', sa.String(length=20), nullable=True),
    sa.Column('answered_at', store_types.UtcDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=30), nullable=True),
    sa.Column('outcome_note', sa.Text(), nullable=True),
    sa.Column('closed_at', store_types.UtcDateTime(), nullable=True),
    sa.Column('ad_client_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('ad_org_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('createdby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updatedby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('oms_cancel_request_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('oms_cancel_request_uu', sa.Uuid(), nullable=False),
    sa.Column('isactive', store_types.YesNo(), server_default=sa.text("'Y'"), nullable=False),
    sa.CheckConstraint("isactive IN ('Y','N')", name=op.f('oms_cancel_request_isactive_ck')),
    sa.CheckConstraint("isallowed IN ('Y','N')", name=op.f('oms_cancel_request_isallowed_ck')),
    sa.ForeignKeyConstraint(['oms_order_id'], ['oms_order.oms_order_id'], name=op.f('omsorder_omscancelrequest'), ondelete='CASCADE', initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('oms_cancel_request_id', name=op.f('oms_cancel_request_key')),
    sa.UniqueConstraint('oms_cancel_request_uu', name=op.f('oms_cancel_request_uu_idx'))
    )
    with op.batch_alter_table('oms_cancel_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('oms_cancel_request_oms_order_id_ix'), ['oms_order_id'], unique=False)
        batch_op.create_index(batch_op.f('oms_cancel_request_state_ix'), ['state'], unique=False)

    op.create_table('oms_order_event',
    sa.Column('oms_order_id', sa.Integer(), nullable=False),
    sa.Column('order_version', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('event_type', sa.String(length=40), nullable=False),
    sa.Column('event_uuid', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('offered_at', store_types.UtcDateTime(), nullable=True),
    sa.Column('last_attempt_at', store_types.UtcDateTime(), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', store_types.UtcDateTime(), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=120), nullable=True),
    sa.Column('ad_client_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('ad_org_id', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('createdby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('updated', store_types.UtcDateTime(), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updatedby', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('oms_order_event_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('oms_order_event_uu', sa.Uuid(), nullable=False),
    sa.Column('isactive', store_types.YesNo(), server_default=sa.text("'Y'"), nullable=False),
    sa.CheckConstraint("isactive IN ('Y','N')", name=op.f('oms_order_event_isactive_ck')),
    sa.ForeignKeyConstraint(['oms_order_id'], ['oms_order.oms_order_id'], name=op.f('omsorder_omsorderevent'), ondelete='CASCADE', initially='DEFERRED', deferrable=True),
    sa.PrimaryKeyConstraint('oms_order_event_id', name=op.f('oms_order_event_key')),
    sa.UniqueConstraint('event_uuid', name=op.f('oms_order_event_event_uuid_uq')),
    sa.UniqueConstraint('oms_order_event_uu', name=op.f('oms_order_event_uu_idx')),
    sa.UniqueConstraint('oms_order_id', 'order_version', name='oms_order_event_order_version_uq')
    )
    with op.batch_alter_table('oms_admin_user', schema=None) as batch_op:
        batch_op.alter_column('session_key_enc',
               existing_type=sa.TEXT(),
               nullable=True)

    with op.batch_alter_table('oms_channel', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token_refreshed_at', store_types.UtcDateTime(), nullable=True))

    with op.batch_alter_table('oms_delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('leased_until', store_types.UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column('cause_code', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('cause_subject', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('last_request', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('last_answer', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('armed_at', store_types.UtcDateTime(), nullable=True))
        batch_op.create_index('oms_delivery_state_cause_ix', ['state', 'destination', 'cause_code', 'cause_subject'], unique=False)

    with op.batch_alter_table('oms_erp_connection', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('login_error_at', store_types.UtcDateTime(), nullable=True))

    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tracking_number', sa.String(length=120), nullable=True))
        batch_op.create_index('oms_order_created_ix', ['order_created', 'oms_order_id'], unique=False)
        batch_op.create_index('oms_order_external_ix', ['external_id'], unique=False)
        batch_op.create_index('oms_order_is_held_ix', ['is_held', 'oms_order_id'], unique=False)
        batch_op.create_index('oms_order_updated_ix', ['is_held', 'updated'], unique=False)

    with op.batch_alter_table('oms_package_push', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempted_at', store_types.UtcDateTime(), nullable=True))

    with op.batch_alter_table('oms_process_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat', store_types.UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oms_process_run', schema=None) as batch_op:
        batch_op.drop_column('heartbeat')

    with op.batch_alter_table('oms_package_push', schema=None) as batch_op:
        batch_op.drop_column('attempted_at')

    with op.batch_alter_table('oms_order', schema=None) as batch_op:
        batch_op.drop_index('oms_order_updated_ix')
        batch_op.drop_index('oms_order_is_held_ix')
        batch_op.drop_index('oms_order_external_ix')
        batch_op.drop_index('oms_order_created_ix')
        batch_op.drop_column('tracking_number')

    with op.batch_alter_table('oms_erp_connection', schema=None) as batch_op:
        batch_op.drop_column('login_error_at')
        batch_op.drop_column('login_error')

    with op.batch_alter_table('oms_delivery', schema=None) as batch_op:
        batch_op.drop_index('oms_delivery_state_cause_ix')
        batch_op.drop_column('armed_at')
        batch_op.drop_column('last_answer')
        batch_op.drop_column('last_request')
        batch_op.drop_column('cause_subject')
        batch_op.drop_column('cause_code')
        batch_op.drop_column('leased_until')

    with op.batch_alter_table('oms_channel', schema=None) as batch_op:
        batch_op.drop_column('token_refreshed_at')

    with op.batch_alter_table('oms_admin_user', schema=None) as batch_op:
        batch_op.alter_column('session_key_enc',
               existing_type=sa.TEXT(),
               nullable=False)

    op.drop_table('oms_order_event')
    with op.batch_alter_table('oms_cancel_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('oms_cancel_request_state_ix'))
        batch_op.drop_index(batch_op.f('oms_cancel_request_oms_order_id_ix'))

    op.drop_table('oms_cancel_request')
    with op.batch_alter_table('oms_reconciliation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('oms_reconciliation_oms_channel_id_ix'))

    op.drop_table('oms_reconciliation')
    with op.batch_alter_table('oms_alert_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('oms_alert_notice_oms_alert_id_ix'))
        batch_op.drop_index(batch_op.f('oms_alert_notice_claimed_until_ix'))

    op.drop_table('oms_alert_notice')
    with op.batch_alter_table('oms_admin_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('oms_admin_session_oms_admin_user_id_ix'))

    op.drop_table('oms_admin_session')
    op.drop_table('oms_product_ref')
    op.drop_table('oms_alert_target')
    with op.batch_alter_table('oms_alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('oms_alert_rule_ix'))

    op.drop_table('oms_alert')
    with op.batch_alter_table('oms_admin_login_failure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('oms_admin_login_failure_username_ix'))
        batch_op.drop_index(batch_op.f('oms_admin_login_failure_failed_at_ix'))
        batch_op.drop_index(batch_op.f('oms_admin_login_failure_client_ip_ix'))

    op.drop_table('oms_admin_login_failure')
