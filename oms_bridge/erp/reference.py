"""C_Order.POReference for a store order: unique per channel, and always short enough to survive (PURE).

Why: the POReference is how the bridge finds an order again after a lost answer or a crash (the
pre-check), so it must (1) never be shared by two store orders and (2) be stored exactly as sent.

1. Marketplace order numbers are unique per shop only (Cyberbiz #1101 exists in every shop), so the
   reference carries the channel: ``po_reference_format`` (default ``{channel_id}-{order}``; placeholders
   ``{channel_id}`` = the channel's row id, ``{channel}`` = its name, ``{order}`` = the marketplace order
   number) must name the channel.
2. iDempiere cuts a string longer than its AD_Column.FieldLength silently (``PO.set_Value``: "Value too
   long - truncated", a server-log warning), and C_Order.POReference is 20 characters in every release
   (migration i7.1z 202008040100_IDEMPIERE-3862.sql). A Shopline order id has 24 characters and a momo
   completeOrderNo 26, so a reference that does not fit ``po_reference_length`` (default 20; ``erp check``
   compares it with the ERP's AD_Column) keeps the channel part and replaces the order number by ``~`` and
   a base32 digest of (channel id, order number) filling the rest: at least 12 characters (60 bits), so two
   orders of one channel never share it in practice. The full order number is in the C_Order's Description.

``legacy_reference`` is what a bridge before this scheme wrote (the bare order number, cut by the ERP):
the pre-check still recognises such C_Orders (see ``oms_bridge.erp.delivery``).
"""

from __future__ import annotations

import base64
import hashlib
import string

__all__ = ["po_reference", "legacy_reference", "check_format", "ReferenceFormatError", "DEFAULT_FORMAT",
           "DEFAULT_LENGTH", "MIN_DIGEST"]

DEFAULT_FORMAT = "{channel_id}-{order}"
DEFAULT_LENGTH = 20
MIN_DIGEST = 12
_FIELDS = {"channel_id", "channel", "order"}


class ReferenceFormatError(ValueError):
    """The format is unusable, or leaves too little room for the order number (the message says which)."""


def check_format(fmt: str) -> None:
    """Refuse a format that could give two channels' orders one reference, or that does not parse."""
    try:
        names = {name for _text, name, _spec, _conv in string.Formatter().parse(fmt) if name is not None}
    except ValueError as exc:
        raise ReferenceFormatError(f"po_reference_format {fmt!r} is not a valid format: {exc}") from exc
    unknown = names - _FIELDS
    if unknown:
        raise ReferenceFormatError(f"po_reference_format {fmt!r}: unknown placeholder(s) "
                                   f"{', '.join(sorted(unknown))}; use {{channel_id}}, {{channel}}, {{order}}")
    if "order" not in names or not names & {"channel_id", "channel"}:
        raise ReferenceFormatError(f"po_reference_format {fmt!r} must contain {{order}} and {{channel_id}} or "
                                   "{channel}: order numbers are unique per shop only")


def po_reference(order_number: str, channel_id: int, channel: str, *, fmt: str = DEFAULT_FORMAT,
                 length: int = DEFAULT_LENGTH) -> str:
    """The POReference of one store order (see module doc); raises :class:`ReferenceFormatError`."""
    check_format(fmt)
    full = fmt.format(channel_id=channel_id, channel=channel, order=order_number)
    if len(full) <= length:
        return full
    room = length - len(fmt.format(channel_id=channel_id, channel=channel, order=""))
    if room < MIN_DIGEST + 1:
        raise ReferenceFormatError(f"po_reference_format {fmt!r} leaves {max(room, 0)} of {length} characters for "
                                   f"order {order_number} of channel {channel}; at least {MIN_DIGEST + 1} are needed "
                                   "(shorten the format, or raise po_reference_length if the ERP's column is longer)")
    digest = hashlib.sha256(f"{channel_id}:{order_number}".encode()).digest()
    text = base64.b32encode(digest).decode("ascii").rstrip("=")
    return fmt.format(channel_id=channel_id, channel=channel, order="~" + text[: room - 1])


def legacy_reference(order_number: str, length: int = DEFAULT_LENGTH) -> str:
    """What a bridge before per-channel references stored: the bare order number as the ERP cut it."""
    return order_number[:length]
