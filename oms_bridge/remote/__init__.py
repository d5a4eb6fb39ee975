"""Calling an outside system: the one retrying HTTP client and the per-call metrics.

Used by the marketplace clients (:mod:`platforms`), the OMS push and the ERP's SOAP client alike, so it sits
below all of them; it imports only :mod:`oms_bridge.model` in-house.
"""
