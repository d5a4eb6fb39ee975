"""Marketplace adapters. ``platforms.base`` is the contract; one folder per marketplace.

The simulators of the marketplaces live in ``sandboxes/``, never here.
"""
