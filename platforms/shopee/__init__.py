"""Shopee adapter: client (I/O), mapping (pure), sandbox (local simulator)."""
