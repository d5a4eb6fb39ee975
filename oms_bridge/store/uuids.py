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
_RAND_B = (1 << 62) - 1


def new_uuids(count: int) -> list[uuid.UUID]:
    """``count`` version 7 UUIDs of this millisecond, in ascending order (rows inserted in the order given append
    to their index), from one read of the system's random source (one ``uuid4()`` each is one system call)."""
    head = (time.time_ns() // 1_000_000) << 80 | _VERSION | _VARIANT
    data = os.urandom(10 * count)
    # 74 random bits each (80 read, 6 dropped): 12 go above the variant, 62 below it
    values = sorted(int.from_bytes(data[i:i + 10], "big") >> 6 for i in range(0, 10 * count, 10))
    return [uuid.UUID(int=head | (rand >> 62) << 64 | rand & _RAND_B) for rand in values]


def new_uuid() -> uuid.UUID:
    """One version 7 UUID (the default of every ``<table>_uu`` column)."""
    return new_uuids(1)[0]


def random_uuids(count: int) -> list[uuid.UUID]:
    """``count`` random (version 4) UUIDs from one read of the system's random source."""
    data = os.urandom(16 * count)
    return [uuid.UUID(bytes=data[i:i + 16], version=4) for i in range(0, 16 * count, 16)]
