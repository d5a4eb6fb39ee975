"""Marketplace adapters. ``platforms.base`` is the contract; one folder per marketplace."""
