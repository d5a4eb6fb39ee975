"""The simulators of every outside system the bridge talks to; none of this runs in production.

One module per outside system plays its side of the contract over real HTTP on 127.0.0.1: the
marketplaces (:mod:`sandboxes.shopee`, :mod:`sandboxes.cyberbiz`, :mod:`sandboxes.momo`,
:mod:`sandboxes.shopline`), the ERP (:mod:`sandboxes.idempiere`, a SOAP server) and the OMS
(:mod:`sandboxes.oms`). :mod:`sandboxes.server` holds the machinery they share (server, clock, faults,
rate limits), :mod:`sandboxes.data` the deterministic sample data, and :mod:`sandboxes.demo` wires them
all to the product for ``oms-bridge demo``.

Direction: a simulator may import product code (a signing helper, the ERP's service list) so both
sides agree by construction; product code never imports a simulator. The one door is the ``demo``
CLI command, which imports :mod:`sandboxes.demo` lazily inside the command (``tests/test_architecture.py``
names that single exception).
"""
