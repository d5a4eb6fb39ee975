"""momo SCM (supplier) orders: crypto (dataList AES), client (I/O), mapping (pure), adapter.

Its simulator is ``sandboxes.momo``.
"""
