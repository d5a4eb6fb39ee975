"""How many SQL statements a page of ``orders/`` costs (issue 18): a fixed handful, whatever the page size, on
the first read (items made, places added, orders offered) and on every read after it (nothing written).

A page of 100 used to cost 706 statements on its first read (one savepoint and insert per item unit, a
write-capable get-or-add per address level); the bounds below hold for a page of 40 and of 80 alike, so a
per-order query anywhere in the path fails them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from oms_helpers import add_channel, add_order, setup_json
from sqlalchemy import event, func, select

from oms_bridge.oms.addresses import ensure_catalogue
from oms_bridge.store.db import get_engine, session_scope
from oms_bridge.store.models import Delivery
from oms_bridge.store.models.oms import OmsOrderItem, OmsTownship
from oms_bridge.store.models.oms_notify import OmsOrderEvent
from oms_bridge.web.app import create_app

#: Statements of one page, token check and catalogue check included.
# 7 of them add the one new place (get-or-add of a township and its district); 8 are the read-only look that finds
# something to record (query_only, BEGIN, catalogue, count, page, offered versions, open rows, token check)
FIRST_READ_MAX = 44
STEADY_MAX = 18

PLACES = [("臺北市", "大安區", "106", None), ("台北市", "信義區", "110", None), ("高雄市", "前鎮區", "806", None),
          ("新竹市", "香山區", "300", None), ("大安區", None, "106", "臺北市"),  # 縣市 in state, 鄉鎮市區 in city
          ("****", "****", "****", None), ("臺中市", "新地名區", "999", None)]  # masked; a township not in the seed


@contextmanager
def counted(settings) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = get_engine(settings)
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _seed(settings, count: int) -> None:
    with session_scope(settings) as s:
        ensure_catalogue(s)  # the seed is loaded once per store, not per page
    channel_id = add_channel(settings)
    for n in range(count):
        city, district, zipcode, state = PLACES[n % len(PLACES)]
        add_order(settings, channel_id, f"26030{n:05d}", city=city, district=district, zipcode=zipcode, state=state,
                  lines=(("TEA-OOLONG-150", "烏龍茶", "2", "480", "10"), ("MUG-CER-350", "馬克杯", "1", "299", "0")))


@pytest.mark.parametrize("size", [40, 80])
def test_a_page_costs_a_fixed_number_of_statements(store_settings, size):
    _seed(store_settings, size)
    token = {e["endpoint"]: e["auth"]["token"] for e in
             setup_json()["OMNITRON_CLIENT_SETTINGS"]["json_value"]["endpoint_conf"]}["orders"]
    url = f"/api/v1/applications/oms/orders/?limit={size}"
    headers = {"Authorization": f"Token {token}"}
    with TestClient(create_app()) as client:
        with counted(store_settings) as first:
            body = client.get(url, headers=headers).json()
        with counted(store_settings) as steady:
            again = client.get(url, headers=headers).json()
    assert len(body["results"]) == size and again["results"] == body["results"]
    assert len(first) <= FIRST_READ_MAX, "\n".join(first)
    assert len(steady) <= STEADY_MAX, "\n".join(steady)
    assert not [s for s in steady if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "SAVEPOINT"))]
    # What the first read had to write is all there, once.
    with session_scope(store_settings, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(OmsOrderItem)) == 3 * size
        assert s.scalar(select(func.count()).select_from(OmsOrderEvent)) == size
        assert s.scalar(select(func.count()).select_from(OmsTownship).where(OmsTownship.source == "order")) == 1
        assert set(s.scalars(select(Delivery.state).where(Delivery.destination == "oms"))) == {"waiting"}
    places = {(o["shipping_address"]["city"] or {}).get("name", "") + "/" +
              (o["shipping_address"]["township"] or {}).get("name", "") for o in body["results"]}
    assert places == {"臺北市/大安區", "臺北市/信義區", "高雄市/前鎮區", "新竹市/香山區", "/", "臺中市/新地名區"}


def test_a_re_read_does_not_wait_for_a_writer(sqlite_settings):
    """A page with nothing new to record is read in a read-only transaction: on SQLite it answers while another
    connection holds the write lock (GetOrder writing), where it used to queue for the lock (issue 18)."""
    _seed(sqlite_settings, 5)
    token = {e["endpoint"]: e["auth"]["token"] for e in
             setup_json()["OMNITRON_CLIENT_SETTINGS"]["json_value"]["endpoint_conf"]}["orders"]
    url, headers = "/api/v1/applications/oms/orders/?limit=10", {"Authorization": f"Token {token}"}
    with TestClient(create_app()) as client:
        body = client.get(url, headers=headers).json()
        writer = sqlite3.connect(sqlite_settings.effective_database_url.removeprefix("sqlite:///"),
                                 isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        answers: list = []
        reader = threading.Thread(target=lambda: answers.append(client.get(url, headers=headers)))
        try:
            reader.start()
            reader.join(5)
            answered_under_lock = bool(answers)
        finally:
            writer.execute("ROLLBACK")
            reader.join()
            writer.close()
    assert answered_under_lock, "the re-read waited for the write lock"
    assert answers[0].status_code == 200 and answers[0].json()["results"] == body["results"]


def _counts(statements: list[str]) -> int:
    """How many times the request counted the page's orders (the DRF ``count``: once per transaction serving it)."""
    return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT COUNT(*)") and "FROM (SELECT 1" in s)


def _looks(statements: list[str]) -> int:
    """Read-only units of a request: deferred BEGINs (the token check's and a read-only look's; a write unit's
    BEGIN IMMEDIATE goes to the driver directly)."""
    return sum(1 for s in statements if s.strip().upper() == "BEGIN")


def test_a_walk_through_new_pages_looks_read_only_only_on_its_first_page(sqlite_settings):
    """An OMS working through new orders: page 1 looks read-only first (a poll that finds nothing new never waits
    for the write lock), finds something to record and is served again in a write transaction; the pages after a
    recorded page go straight to a write transaction instead of paying a look thrown away on every page (issue
    18). A later page that had nothing left to record lets the next one look read-only again."""
    _seed(sqlite_settings, 30)
    token = {e["endpoint"]: e["auth"]["token"] for e in
             setup_json()["OMNITRON_CLIENT_SETTINGS"]["json_value"]["endpoint_conf"]}["orders"]
    headers = {"Authorization": f"Token {token}"}

    def page(n: int) -> list[str]:
        with counted(sqlite_settings) as seen:
            response = client.get(f"/api/v1/applications/oms/orders/?limit=10&page={n}", headers=headers)
        assert response.status_code == 200
        return seen

    with TestClient(create_app()) as client:
        first = page(1)
        assert (_looks(first), _counts(first)) == (2, 2)  # the look, then the write transaction
        for n in (2, 3):
            walked = page(n)
            assert (_looks(walked), _counts(walked)) == (1, 1)  # straight to the write transaction
        unchanged = page(3)  # still a write transaction (the last page recorded): it records nothing
        assert (_looks(unchanged), _counts(unchanged)) == (1, 1)
        again = page(3)
        assert (_looks(again), _counts(again)) == (2, 1)  # read-only again, and nothing more
        assert not [s for s in again if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
        polled = page(1)
        assert (_looks(polled), _counts(polled)) == (2, 1)
        with session_scope(sqlite_settings, readonly=True) as s:
            assert s.scalar(select(func.count()).select_from(OmsOrderEvent)) == 30
            assert set(s.scalars(select(Delivery.state).where(Delivery.destination == "oms"))) == {"waiting"}


def test_the_catalogue_is_read_once_and_again_when_it_changes(sqlite_settings):
    """Pages resolve addresses against the process's copy of the catalogue (no catalogue rows read while it holds,
    issue 18), and a change made by anyone else through the store is served on the next page: here a township
    renamed in another unit of work."""
    _seed(sqlite_settings, 3)
    token = {e["endpoint"]: e["auth"]["token"] for e in
             setup_json()["OMNITRON_CLIENT_SETTINGS"]["json_value"]["endpoint_conf"]}["orders"]
    url, headers = "/api/v1/applications/oms/orders/?limit=10", {"Authorization": f"Token {token}"}

    def townships(body: dict) -> list[str]:
        return [(o["shipping_address"]["township"] or {}).get("name") for o in body["results"]]

    with TestClient(create_app()) as client:
        client.get(url, headers=headers)
        with counted(sqlite_settings) as seen:
            before = client.get(url, headers=headers).json()
        assert not [s for s in seen if "FROM oms_township" in s and "max(" not in s.lower()]
        assert townships(before)[0] == "大安區"
        with session_scope(sqlite_settings) as s:
            row = s.scalars(select(OmsTownship).where(OmsTownship.name == "大安區",
                                                      OmsTownship.postcode == "106")).one()
            row.name = "大安"
        after = client.get(url, headers=headers).json()
    assert townships(after)[0] == "大安"  # found by its postcode under the new name, and served with it
