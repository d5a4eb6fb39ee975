"""Shopline Open API orders: client (I/O, OAuth), mapping (pure), adapter, sandbox (local simulator)."""
