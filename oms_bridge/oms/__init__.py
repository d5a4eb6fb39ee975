"""The OMS destination: oms-bridge plays the Akinon "Seller Center" for an OMS.

- :mod:`~oms_bridge.oms.api` — the pull API (orders, items, plans, address catalogue) the OMS reads;
- :mod:`~oms_bridge.oms.webhooks` — package webhooks the OMS sends back;
- :mod:`~oms_bridge.oms.serializers` — pure order/address JSON; :mod:`~oms_bridge.oms.addresses` — the
  catalogue and address resolution; :mod:`~oms_bridge.oms.items` / :mod:`~oms_bridge.oms.plans` /
  :mod:`~oms_bridge.oms.orders` — what the routes read and write;
- :mod:`~oms_bridge.oms.auth` — per-endpoint tokens; :mod:`~oms_bridge.oms.setup` — what the OMS admin enters;
- :mod:`~oms_bridge.oms.config` — every configurable choice for what the Akinon documents leave open.

It uses the store only; the tracking push-back to the marketplace runs in ``channels/logistics.py``
and is reached through ``oms_delivery`` rows (destination ``logistics``), never by import.
See docs/oms.md.
"""
