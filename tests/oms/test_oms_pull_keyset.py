"""Walking ``orders/`` by its ``next`` links: each page continues after the last order of the one before (both
stores, through the OMS's API)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from oms_fake_client import FakeOms
from oms_helpers import add_channel, add_order, bump_order, setup_json

from oms_bridge.settings import Settings
from oms_bridge.web.app import create_app


@pytest.fixture
def oms(store_settings: Settings) -> Iterator[FakeOms]:
    with TestClient(create_app()) as client:
        yield FakeOms.from_setup(setup_json(), client)


def _follow(oms: FakeOms, url: str) -> dict:
    response = oms._get(url, None, oms.headers("orders"))
    assert response.status_code == 200, response.text
    return response.json()


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_an_order_leaving_the_filter_during_a_walk_costs_no_other_order_its_page(store_settings, oms):
    """Regression: pages were cut by offset alone, so when an order of an earlier page left the filter during the
    OMS's walk (here its status moved on; being held does the same), every later order moved up one place and the
    first order of the next page was served on neither page. The OMS's next poll starts later: it could miss that
    order for good."""
    channel_id = add_channel(store_settings)
    ids = [add_order(store_settings, channel_id, f"K{n}") for n in range(5)]
    first = oms.get("orders", limit=2, status="400").json()
    assert [o["id"] for o in first["results"]] == ids[:2] and first["count"] == 5
    assert _query(first["next"])["after"] == [str(ids[1])] and _query(first["next"])["page"] == ["2"]

    bump_order(store_settings, ids[0], status="shipped")  # K0 leaves status=400 while the OMS walks

    second = _follow(oms, first["next"])
    assert [o["id"] for o in second["results"]] == ids[2:4]
    assert second["count"] == 4  # the filter's current total
    assert "after" not in _query(second["previous"]) and _query(second["previous"])["page"] == ["1"]
    third = _follow(oms, second["next"])
    assert [o["id"] for o in third["results"]] == ids[4:] and third["next"] is None


def test_next_is_given_exactly_when_orders_follow(store_settings, oms):
    """``next`` follows from the orders after the page, not from the count: when earlier orders left the filter
    the count says the walk is over, but the orders after the page are still served."""
    channel_id = add_channel(store_settings)
    ids = [add_order(store_settings, channel_id, f"E{n}") for n in range(6)]
    first = oms.get("orders", limit=2, status="400").json()
    for order_id in ids[:2]:
        bump_order(store_settings, order_id, status="shipped")
    second = _follow(oms, first["next"])  # 4 left: by the count, page 2 of 2 would be the last
    assert second["count"] == 4 and [o["id"] for o in second["results"]] == ids[2:4]
    assert second["next"] is not None
    third = _follow(oms, second["next"])
    assert [o["id"] for o in third["results"]] == ids[4:] and third["next"] is None
    # A walk that reached the end stays there: no orders after the last one is an empty last page.
    past = _follow(oms, first["next"].replace(f"after={ids[1]}", f"after={ids[-1]}"))
    assert past["results"] == [] and past["next"] is None


def test_pages_by_number_are_as_drf_makes_them(store_settings, oms):
    """Without ``after`` a page is cut by its number (DRF's page-number pagination): a page past the end is 404;
    ``after`` must be an integer in range."""
    channel_id = add_channel(store_settings)
    ids = [add_order(store_settings, channel_id, f"D{n}") for n in range(5)]
    page2 = oms.get("orders", limit=2, page=2).json()
    assert [o["id"] for o in page2["results"]] == ids[2:4] and page2["count"] == 5
    assert _query(page2["next"])["after"] == [str(ids[3])]
    assert oms.get("orders", limit=2, page=4).status_code == 404
    assert [o["id"] for o in oms.pull_all("orders", limit=2)] == ids
    refused = oms.get("orders", after=str(2**63))
    assert refused.status_code == 400 and "after" in refused.json()["detail"]
