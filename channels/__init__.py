"""A channel at work: one store account bound to its platform adapter, and the processes run for it.

- :mod:`channels.binding`: channel row → ready adapter (secrets decrypted, named errors);
- :mod:`channels.tokens`: single-flight token refresh, compare-and-swap writes, expiry warnings;
- :mod:`channels.authorization`: OAuth start/callback, credential checks;
- :mod:`channels.getorder`, :mod:`channels.refreshtoken`, :mod:`channels.backfill`: the processes;
- :mod:`channels.pulling`: what GetOrder and backfill share; :mod:`channels.locks`: per-channel locks.
"""
