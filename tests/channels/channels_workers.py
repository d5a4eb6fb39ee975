"""Functions run in separate OS processes (multiprocessing, spawn) by the concurrency tests.

Each worker reads its settings from the environment it inherited (OMS_BRIDGE_HOME, keys, database
URL), exactly like a second scheduler or CLI process would.
"""

from __future__ import annotations

from oms_bridge.remote.http import RetryPolicy

FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=0.5, read_timeout=5.0)


def refresh_worker(channel_id: int, force: bool, barrier, results) -> None:
    """Wait for the other process, then refresh the same channel at the same moment."""
    from channels.binding import load_channel, token_set_of
    from channels.tokens import refresh_channel_tokens
    from oms_bridge.settings import get_settings
    from oms_bridge.store.db import session_scope
    from oms_bridge.vault import Vault

    settings = get_settings()
    version = None
    if force:
        with session_scope(settings) as session:
            version = load_channel(session, channel_id).token_version
    barrier.wait()
    result = refresh_channel_tokens(channel_id, settings=settings, policy=FAST, force=force, if_version=version)
    with session_scope(settings) as session:
        held = token_set_of(load_channel(session, channel_id), Vault.from_settings(settings))
    results.put((result.outcome, result.tokens.access_token if result.tokens else None, held.access_token))


def getorder_worker(channel_id: int, barrier, results) -> None:
    """Two GetOrder runs of the same channel at the same moment."""
    from channels.getorder import run_getorder
    from oms_bridge.settings import get_settings

    barrier.wait()
    stats = run_getorder(channel_id, settings=get_settings(), policy=FAST)
    results.put((stats.outcome, stats.new, stats.error_text))
