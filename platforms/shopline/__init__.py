"""Shopline Open API orders: client (I/O, OAuth), mapping (pure), adapter; simulator: ``sandboxes.shopline``."""
