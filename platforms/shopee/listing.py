"""Listing a Shopee ``get_order_list`` window completely, although its offset paging can skip orders.

Why this module exists: ``get_order_list`` pages by *offset* under an opaque cursor
(shared/specs/contract-evidence.md, Shopee). When an order that was already listed leaves the window while the
later pages are being read (its update moves ``update_time`` past the window's end), every later order moves
up one place and the first order of the next page is never returned in that pass. Nothing in the answer says
so: Shopee documents neither the listing's sort order nor a total count. Read naively, that order is lost for
good, because the watermark then moves past it.

The facts the guarantee rests on (docs/contracts/shopee.md):

1. an order's ``update_time`` only grows, and every window GetOrder reads ends in the past (its lag), so while
   a window is read an order can only *leave* it; an order that leaves is read by the next run, whose window
   starts at the old watermark minus the overlap;
2. a pass can skip an order only if an order listed *earlier in the same pass* left before the pass ended (the
   first shift needs a listed order to move out: unlisted ones sit behind the read position);
3. one page answer is one consistent snapshot: a window that fits one page is complete by construction.

Two proofs that a pass skipped nothing, whatever the sort order:

- **by detail** (``fetch_orders``): the order details are read *after* the last page of the pass; if none of
  the listed orders shows an ``update_time`` outside the window, none left during the pass (fact 2). This
  costs nothing: the details are needed anyway. See :meth:`platforms.shopee.adapter.ShopeeAdapter.fetch_orders`.
- **by agreement** (:meth:`WindowLister.complete`, used by ``list_orders`` and when the first proof fails): a
  second pass that lists exactly the same orders proves the first one complete, because an order that left
  during the first pass is missing from the second.

When the proof by detail fails, the details have told where the window's orders lie in time: the window is
cut at those ``update_time`` seconds into parts of at most 90 % of a page each (:meth:`WindowLister.complete_in_parts`),
so each part is one list call that is complete by itself (fact 3) - about 1.1 list calls per page of the
window, instead of two passes. A part that overflows anyway (orders that were missed or arrived late), and
any window whose proof by agreement fails, is cut in halves by ``update_time`` second and each half proven on
its own; halves shrink until they fit one page or are quiet enough for two passes to agree. A single second
that keeps changing through ``max_passes`` passes raises :class:`~platforms.base.TransientError` (nothing is
claimed complete; the run fails and the next one reads the window again).

Memory: the order numbers (and, after a failed proof, the ``update_time`` seconds) of one window - about
120 bytes per order of the window, one ≤15-day window at a time - never the orders themselves.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from platforms.base import TransientError

__all__ = ["WindowLister", "Listing", "ListPage"]

log = logging.getLogger("oms_bridge.platforms.shopee")

#: ``list_page(time_from, time_to, cursor) -> get_order_list response`` (inclusive Unix seconds)
ListPage = Callable[[int, int, str], Mapping[str, Any]]


@dataclass
class Listing:
    """One pass over a window: order_sn → order_status in listing order, and how many pages it took."""

    orders: dict[str, str] = field(default_factory=dict)
    pages: int = 0

    @property
    def one_page(self) -> bool:
        return self.pages <= 1


@dataclass
class WindowLister:
    """Passes and proofs over ``[time_from, time_to]`` windows through one ``list_page`` function."""

    list_page: ListPage
    max_passes: int = 5
    #: list calls spent beyond the first pass of each window (re-listing to prove completeness)
    extra_calls: int = 0

    def one_pass(self, time_from: int, time_to: int) -> Listing:
        """Follow the cursor to the end of the window once."""
        listing, cursor, seen = Listing(), "", set()
        while True:
            page = self.list_page(time_from, time_to, cursor)
            listing.pages += 1
            for entry in page.get("order_list") or []:
                if entry.get("order_sn"):  # statuses interned: a window holds few distinct ones, many times
                    listing.orders.setdefault(str(entry["order_sn"]), sys.intern(str(entry.get("order_status") or "")))
            cursor = str(page.get("next_cursor") or "")
            if not page.get("more") or not cursor:
                return listing
            if cursor in seen:  # loop guard: a cursor that comes back would page forever
                raise TransientError(f"Shopee returned the same get_order_list cursor twice for the window "
                                     f"{time_from}..{time_to}; nothing was taken as complete", platform="shopee")
            seen.add(cursor)

    def complete(self, time_from: int, time_to: int) -> dict[str, str]:
        """Every order in the window, proven complete by one page, by agreement, or by halves (module doc)."""
        return self._complete(time_from, time_to, first_is_extra=False)

    def complete_in_parts(self, time_from: int, time_to: int, known_times: Iterable[int],
                          page_size: int) -> dict[str, str]:
        """The window proven part by part, cut where the known orders' ``update_time`` puts at most 90 % of a
        page in each part: one call per part when nothing changes again (module doc)."""
        orders: dict[str, str] = {}
        for lo, hi in _parts(time_from, time_to, sorted(known_times), max(1, page_size - max(1, page_size // 10))):
            orders.update(self._complete(lo, hi, first_is_extra=True))
        return orders

    def complete_in_halves(self, time_from: int, time_to: int) -> dict[str, str]:
        """The window proven half by half (for a window whose first pass already failed its proof)."""
        if time_from >= time_to:
            return self._settle_one_second(time_from)
        middle = (time_from + time_to) // 2
        log.info("Shopee: orders changed while the window %s..%s was listed; proving it in two halves",
                 time_from, time_to)
        orders = self._complete(time_from, middle, first_is_extra=True)
        orders.update(self._complete(middle + 1, time_to, first_is_extra=True))
        return orders

    def _complete(self, time_from: int, time_to: int, *, first_is_extra: bool) -> dict[str, str]:
        first = self._pass(time_from, time_to, extra=first_is_extra)
        if first.one_page:
            return first.orders
        second = self._pass(time_from, time_to, extra=True)
        if second.orders.keys() == first.orders.keys():
            return second.orders
        return self.complete_in_halves(time_from, time_to)

    def _pass(self, time_from: int, time_to: int, *, extra: bool = True) -> Listing:
        listing = self.one_pass(time_from, time_to)
        if extra:
            self.extra_calls += listing.pages
        return listing

    def _settle_one_second(self, second: int) -> dict[str, str]:
        """One second holding more than a page of orders: passes until two agree (it cannot be cut)."""
        previous = self._pass(second, second)
        for _ in range(max(1, self.max_passes - 1)):
            if previous.one_page:
                return previous.orders
            current = self._pass(second, second)
            if current.orders.keys() == previous.orders.keys():
                return current.orders
            previous = current
        raise TransientError(f"the Shopee orders updated at {second} kept changing through {self.max_passes} "
                             "listings; nothing was taken as complete and the next run reads the window again",
                             platform="shopee")


def _parts(time_from: int, time_to: int, times: list[int], per_part: int) -> list[tuple[int, int]]:
    """``[time_from, time_to]`` cut between distinct seconds so that each part holds at most ``per_part`` of the
    sorted ``times`` (a second holding more stays whole: it cannot be cut). Consecutive, no gap, no overlap."""
    parts: list[tuple[int, int]] = []
    start, count, i = time_from, 0, 0
    times = [t for t in times if time_from <= t <= time_to]
    while i < len(times):
        second = times[i]
        same = 1
        while i + same < len(times) and times[i + same] == second:
            same += 1
        if count and count + same > per_part:  # close the part before this second
            parts.append((start, second - 1))
            start, count = second, 0
        count += same
        i += same
    parts.append((start, time_to))
    return parts
