"""APScheduler wiring: which process runs for which channel how often, the shared job store, run locks.

Entry point: :func:`scheduler.builder.start_scheduler`; jobs follow the channel table through
:func:`scheduler.sync.reconcile`; :mod:`scheduler.locks` keeps several instances from running the
same (process, channel) at once.
"""
