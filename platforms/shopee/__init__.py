"""Shopee adapter: client (I/O), mapping (pure); its simulator is ``sandboxes.shopee``."""
