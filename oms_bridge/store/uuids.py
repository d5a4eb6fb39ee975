"""Row UUIDs (every table's ``<table>_uu``) that follow time: RFC 9562 version 7.

Why not version 4: each of these columns has a unique index, and a random key lands on a random page of it. The
OMS's first read of a page makes 300 items and 100 events (three UUIDs each kind of row has, two indexes): some
500 index pages scattered over the file were dirtied, and writing them at commit was a tenth of the read's CPU
(issue 18); on a store larger than the database's cache each would also be a page read. A version 7 UUID starts
with the time in milliseconds, so new keys land at the end of their index, as the integer ids do. The other 74
bits are random: unique across processes and instances without coordination, as before.

A UUID another system receives keeps the version it expects: the OMS events' uuid is ``uuid4().hex`` as
whisperer writes it (docs/contracts/akinon-oms.md 2.4), from :func:`random_uuids`.
"""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["new_uuid", "new_uuids", "random_uuids"]

_VERSION = 7 << 76  # bits 48-51 of the 128
_VARIANT = 0b10 << 62  # RFC 9562 variant, bits 64-65
_BATCH_BITS = 24  # room for a batch of up to 16 million after its random start


def new_uuids(count: int) -> list[uuid.UUID]:
    """``count`` version 7 UUIDs of this millisecond, in ascending order (rows inserted in the order given append
    to their index).

    RFC 9562 §6.2, method 2 (monotonic random): a batch starts at 12 + 38 random bits after the time and counts up
    from there in its low 24 bits, so a batch costs one read of the system's random source and one addition per
    UUID. Two batches of one millisecond (another thread, process or instance) overlap only when they drew the
    same 50 random bits: once in 2^50."""
    rand = int.from_bytes(os.urandom(8), "big")
    start = ((time.time_ns() // 1_000_000) << 80 | _VERSION | (rand >> 52) << 64 | _VARIANT
             | (rand & ((1 << 38) - 1)) << _BATCH_BITS)
    return [uuid.UUID(int=value) for value in range(start, start + count)]


def new_uuid() -> uuid.UUID:
    """One version 7 UUID (the default of every ``<table>_uu`` column)."""
    return new_uuids(1)[0]


def random_uuids(count: int) -> list[uuid.UUID]:
    """``count`` random (version 4) UUIDs from one read of the system's random source."""
    data = os.urandom(16 * count)
    return [uuid.UUID(bytes=data[i:i + 16], version=4) for i in range(0, 16 * count, 16)]
