"""The vocabulary every layer shares: the canonical order, the error tree of outside calls, secret masking.

A leaf: it imports nothing in-house, so the store, the destinations (``oms_bridge.erp``, ``oms_bridge.oms``)
and the marketplace adapters (:mod:`platforms`) may all depend on it without depending on each other.
``tests/test_architecture.py`` keeps it that way.
"""
