"""Reconciliation: did every marketplace order reach the store, the ERP and the OMS?

- :mod:`~oms_bridge.reconcile.compare`: the pure comparison per Asia/Taipei day, every difference named
  by order number and reason;
- :mod:`~oms_bridge.reconcile.run`: gathering the sides (the marketplace's list-only pass, the store,
  the ERP by POReference, the OMS's delivery rows), storing the result, and the daily scheduled run.

See docs/reconcile.md.
"""
