"""Cyberbiz adapter: client (I/O), mapping (pure); its simulator is ``sandboxes.cyberbiz``."""
