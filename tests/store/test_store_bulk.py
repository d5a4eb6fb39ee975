"""Bulk order loads (issue 18): the driver-level inserts keep every guarantee of the upsert, the single-step
datetime processor binds what SQLAlchemy's chain binds, and PostgreSQL's statistics follow a large load."""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import DateTime, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from channels.pulling import store_orders
from oms_bridge.store.db import get_engine, session_scope
from oms_bridge.store.lists import array_literal
from oms_bridge.store.models import Channel, Delivery, Order, OrderCancelRequest, OrderLine, OrderStatus, Platform
from oms_bridge.store.orders import _INSERT_COLUMNS, _insert_new, upsert_orders
from oms_bridge.store.runs import RunStats
from oms_bridge.store.statistics import MIN_ROWS, due_tables, refresh_after_load
from oms_bridge.store.types import Money, Quantity, UtcDateTime, YesNo
from oms_bridge.store.uuids import new_uuid, new_uuids
from platforms.base import Address, Buyer, CancelRequest, UnmappableOrder
from platforms.base import Order as CanonicalOrder
from platforms.base import OrderLine as CanonicalLine

T0 = datetime(2026, 3, 1, 15, 59, 59, 120000, tzinfo=UTC)


def make_order(n: int, **changes) -> CanonicalOrder:
    order = CanonicalOrder(
        external_id=f"BK{n:06d}", status="paid", platform_status="READY_TO_SHIP", created_at=T0, updated_at=T0,
        currency="TWD", total=Decimal("1280.50"), shipping_fee=Decimal("60"), paid_at=T0 + timedelta(minutes=1),
        lines=(CanonicalLine(sku="MUG-1", name="馬克杯", qty=Decimal("2"), unit_price=Decimal("610.25"),
                             external_line_id="1"),
               CanonicalLine(sku="TEA-2", name="茶", qty=Decimal("1"), unit_price=Decimal("60"),
                             discount=Decimal("0.5"), external_line_id="2")),
        buyer=Buyer(id="b1", name="王小明"),
        shipping_address=Address(name="王小明", city="台北市", district="大安區", zip="106", line1="新生南路一段1號",
                                 country="TW"),
        raw={"order_sn": f"BK{n:06d}", "update_time": 1},
    )
    return dataclasses.replace(order, **changes) if changes else order


def _add_channel(settings, value: str, **columns) -> int:
    """A Shopee platform and one channel of it; returns the channel's id."""
    with session_scope(settings) as session:
        platform = Platform(value="shopee", name="Shopee", platform_type="shopee", host="http://127.0.0.1:9")
        session.add(platform)
        session.flush()
        channel = Channel(value=value, name=value, oms_platform_id=platform.id, **columns)
        session.add(channel)
        session.flush()
        return channel.id


@pytest.fixture
def channel_id(store_settings) -> int:
    return _add_channel(store_settings, "shop-bulk", ad_client_id=11, ad_org_id=12)


def test_postgresql_reads_times_as_aware_utc_and_money_as_decimal_whatever_the_zone(pg_settings, pg_url):
    """The store's PostgreSQL sessions run in UTC, so psycopg's aware UTC times and Decimals are used as they come
    (no call per value); a session left in another zone (a pooler that drops the setting, an engine made
    elsewhere) still reads aware UTC. The same instants and amounts either way."""
    from sqlalchemy import create_engine

    when = datetime(2026, 3, 1, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=8)))
    channel = _add_channel(pg_settings, "tz")
    with session_scope(pg_settings) as s:
        s.add(Order(oms_channel_id=channel, external_id="TZ1", status="paid", order_created=when,
                    total_amount=Decimal("1280.50"), currency="TWD"))
    read = select(Order.order_created, Order.total_amount)
    with get_engine(pg_settings).connect() as conn:
        assert conn.exec_driver_sql("SHOW TIME ZONE").scalar() == "UTC"
        ours = conn.execute(read).one()
    elsewhere = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1),
                              connect_args={"options": "-c TimeZone=Asia/Taipei"})
    try:
        with elsewhere.connect() as conn:
            assert conn.exec_driver_sql("SHOW TIME ZONE").scalar() == "Asia/Taipei"
            theirs = conn.execute(read).one()
    finally:
        elsewhere.dispose()
    for created, amount in (ours, theirs):
        assert created == when and created.tzinfo is UTC and created.hour == 15
        assert amount == Decimal("1280.50") and type(amount) is Decimal


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.psycopg.dialect()], ids=["sqlite", "postgresql"])
def test_single_step_datetime_processor_binds_what_the_chain_binds(dialect):
    kind = UtcDateTime()
    impl = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
    fast = kind.dialect_impl(dialect).bind_processor(dialect)
    taipei = timezone(timedelta(hours=8))
    for value in (T0, T0.replace(microsecond=0), datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
                  datetime(2026, 3, 2, 0, 0, 0, 1, tzinfo=taipei), None):
        assert fast(value) == impl(kind.process_bind_param(value, dialect)), value
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 3, 1))


def test_single_step_datetime_reader_reads_what_the_chain_reads():
    """SQLite's stored text straight to aware UTC gives what SQLAlchemy's parser followed by the decorator gave,
    for every form the column holds (our writes, CURRENT_TIMESTAMP defaults, a date alone) and for text
    ``fromisoformat`` refuses."""
    dialect = sqlite.dialect()
    kind = UtcDateTime()
    impl = DateTime(timezone=True).dialect_impl(dialect).result_processor(dialect, None)
    fast = kind.dialect_impl(dialect).result_processor(dialect, None)
    for stored in ("2026-03-01 04:00:00.123456", "2026-03-01 04:00:00", "2026-03-01 04:00:00.000001", "2026-03-01",
                   "0999-01-02 03:04:05.000000", None):
        chained = impl(stored) if stored is not None else None
        expected = kind.process_result_value(chained, dialect)
        assert fast(stored) == expected and (stored is None or fast(stored).tzinfo is UTC), stored


def test_single_step_readers_of_money_and_yes_no_read_what_the_chain_reads():
    """SQLite's stored text straight to a Decimal, and 'Y'/'N' straight to a bool (on every driver), give what the
    column's own processor followed by the decorator gave."""
    dialects = {"sqlite": sqlite.dialect(), "postgresql": postgresql.psycopg.dialect()}
    for kind, stored, names in ((Money(), ("480", "480.000000", "-0.5", "1E+2", 12, None), ("sqlite",)),
                                (Quantity(), ("2", "0.333333", None), ("sqlite",)),
                                (YesNo(), ("Y", "N", None), ("sqlite", "postgresql"))):
        for name in names:
            dialect = dialects[name]
            chained = kind.load_dialect_impl(dialect).result_processor(dialect, None) or (lambda v: v)
            fast = kind.dialect_impl(dialect).result_processor(dialect, None)
            for value in stored:
                expected = kind.process_result_value(chained(value), dialect)
                got = fast(value)
                assert got == expected and type(got) is type(expected), (kind, name, value)


def test_new_orders_in_bulk_keep_every_row_the_upsert_promises(store_settings, channel_id):
    request = CancelRequest(requested_at=T0, reason="buyer changed mind", reference="r-1", allowed=True)
    orders = [make_order(1), make_order(2, cancel_request=request),
              make_order(3, cancel_request=request, request_only=True, lines=()),
              UnmappableOrder(external_id="BK000004", raw={"order_sn": "BK000004"}, reason="no SKU")]
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    with session_scope(store_settings) as session:
        counts = upsert_orders(session, channel_id, orders, None, now=now)
    assert (counts.new, counts.held) == (4, 2)
    with session_scope(store_settings, readonly=True) as session:
        by_number = {o.external_id: o for o in session.scalars(select(Order))}
        one, two, three, four = (by_number[f"BK00000{n}"] for n in (1, 2, 3, 4))
        assert (one.version, one.is_held, one.total_amount, one.paid_at, one.created) == (
            1, False, Decimal("1280.50"), T0 + timedelta(minutes=1), now)
        assert (one.ad_client_id, one.ad_org_id, one.ship_city, one.buyer_name) == (11, 12, "台北市", "王小明")
        lines = session.scalars(select(OrderLine).where(OrderLine.oms_order_id == one.id)
                                .order_by(OrderLine.line_no)).all()
        assert [(ln.line_no, ln.sku, ln.qty, ln.unit_price, ln.discount) for ln in lines] == [
            (10, "MUG-1", Decimal("2"), Decimal("610.25"), Decimal("0")),
            (20, "TEA-2", Decimal("1"), Decimal("60"), Decimal("0.5"))]
        history = session.scalars(select(OrderStatus).where(OrderStatus.oms_order_id == one.id)).all()
        assert [(h.status, h.changed_at) for h in history] == [("paid", now)]
        deliveries = {(d.oms_order_id, d.destination): d for d in session.scalars(select(Delivery))}
        assert {k[1] for k in deliveries if k[0] == one.id} == {"erp", "oms"}
        assert all((d.state, d.action, d.attempts, d.order_version) == ("pending", "create", 0, 1)
                   for (oid, dest), d in deliveries.items() if dest != "cancel_answer")
        # an order listed with a request: open request for version 1, its answer armed (held ones too)
        assert {k[1] for k in deliveries if k[0] == two.id} == {"erp", "oms", "cancel_answer"}
        assert {k[1] for k in deliveries if k[0] == three.id} == {"cancel_answer"}
        answer = deliveries[(two.id, "cancel_answer")]
        assert (answer.state, answer.action, answer.order_version, answer.armed_at) == ("pending", "answer", 1, now)
        requests = {r.oms_order_id: r for r in session.scalars(select(OrderCancelRequest))}
        assert set(requests) == {two.id, three.id}
        assert (requests[two.id].state, requests[two.id].reference, requests[two.id].isallowed,
                requests[two.id].order_version, requests[two.id].seen_at) == ("open", "r-1", True, 1, now)
        assert three.is_held and four.is_held and four.held_reason == "no SKU"
        assert not [k for k in deliveries if k[0] == four.id]
        assert len({o.uu for o in by_number.values()}) == 4
    # unchanged re-read: nothing written, nothing re-armed
    with session_scope(store_settings) as session:
        counts = upsert_orders(session, channel_id, orders[:2], None, now=now + timedelta(hours=1))
    assert (counts.new, counts.changed, counts.unchanged) == (0, 0, 2)
    with session_scope(store_settings, readonly=True) as session:
        assert session.scalar(select(func.max(Order.updated))) == now
        assert session.scalar(select(func.count()).select_from(OrderStatus)) == 2


def test_a_key_another_process_inserted_first_is_not_taken_for_ours(store_settings, channel_id):
    """The bulk insert skips an existing key; the row read back carries the other writer's UUID, so the order
    takes the update path (under its row lock) instead of getting a second set of lines and deliveries."""
    with session_scope(store_settings) as session:
        upsert_orders(session, channel_id, [make_order(1)], None)
    with session_scope(store_settings) as session:
        rows = []
        for n, uu in zip((1, 2), new_uuids(2), strict=True):
            values = dict.fromkeys(_INSERT_COLUMNS)
            values.update(oms_channel_id=channel_id, external_id=f"BK{n:06d}", version=1, is_held=False,
                          created=T0, updated=T0, isactive=True, createdby=0, updatedby=0, ad_client_id=0,
                          ad_org_id=0, oms_order_uu=uu)
            rows.append(tuple(values[c] for c in _INSERT_COLUMNS))
        inserted = _insert_new(session, channel_id, ["BK000001", "BK000002"], rows)
        assert list(inserted) == ["BK000002"]
        assert session.scalar(select(func.count()).select_from(Order)) == 2


def test_statements_selecting_money_and_quantity_columns_are_cached():
    """Money and Quantity set ``cache_ok`` themselves (SQLAlchemy does not inherit it): without it every statement
    naming such a column was compiled again on each execution, with a warning."""
    stmt = select(OrderLine.id, OrderLine.qty, OrderLine.unit_price).where(OrderLine.oms_order_id.in_([1, 2]))
    assert stmt._generate_cache_key() is not None


def test_insert_rows_counts_the_rows_that_went_in(store_settings):
    """The count answered is the rows that went in, rows ``on_conflict`` skipped left out, on both drivers' executemany:
    the OMS's first read serves new items as inserted only when the count says every one was its own."""
    from oms_bridge.store import bulk
    from oms_bridge.store.models.oms import OmsCountry

    now = datetime.now(UTC)
    columns = ("code", "name", "source", "oms_country_uu", "created", "updated", "isactive", "ad_client_id",
               "ad_org_id", "createdby", "updatedby")

    def rows(codes):
        return [(code, f"land {code}", "seed", uuid.uuid4(), now, now, True, 0, 0, 0, 0) for code in codes]

    first = [f"A{n}" for n in range(10)] + [f"B{n}" for n in range(10)]
    with session_scope(store_settings) as s:
        assert bulk.insert_rows(s, OmsCountry.__table__, columns, rows(first), on_conflict=("code",)) == 20
    with session_scope(store_settings) as s:
        assert bulk.insert_rows(s, OmsCountry.__table__, columns, rows(["A1", "C1", "B2", "C2"]),
                                on_conflict=("code",)) == 2
        assert bulk.insert_rows(s, OmsCountry.__table__, columns, rows(["A1"]), on_conflict=("code",)) == 0
        stored = set(s.scalars(select(OmsCountry.code)))
    assert stored == {*first, "C1", "C2"}


@pytest.mark.parametrize("dumped_columns", [0, 99], ids=["executemany", "unnest"])
def test_insert_rows_stores_every_value_as_given_in_the_order_given(store_settings, channel_id, dumped_columns,
                                                                     monkeypatch):
    """Every kind of value the stores hold goes in as given, in the order given (ids follow it): texts that need
    quoting in an array literal, None among values, times that differ per row and one time the whole batch
    shares, integers and UUIDs. On PostgreSQL both ways (``UNNEST_DUMPED_COLUMNS`` chooses): the executemany and
    the one ``INSERT … SELECT … FROM unnest`` (integers and UUIDs as array text, shared values as one
    parameter). A key repeated within the batch goes in once."""
    from oms_bridge.store import bulk
    from oms_bridge.store.models.oms import OmsOrderItem

    monkeypatch.setattr(bulk, "UNNEST_DUMPED_COLUMNS", dumped_columns)

    with session_scope(store_settings) as s:
        upsert_orders(s, channel_id, [make_order(1)], None)
        s.execute(OmsOrderItem.__table__.delete())  # the order's own items: this test inserts items itself
    now = datetime.now(UTC)
    texts = ['a "quoted" one', "comma, {brace}", "back\\slash", None, "NULL", "", "  space  ", "台北市 大安區", "None"]
    with session_scope(store_settings) as s:
        order_id, line_ids = s.scalar(select(Order.id)), s.scalars(select(OrderLine.id).order_by(OrderLine.id)).all()
        keys = [(line_ids[n % 2], 100 - n) for n in range(len(texts))]
        columns = ("oms_order_id", "oms_orderline_id", "unit_no", "tracking_number", "invoice_date", "status",
                   "oms_order_item_uu", "ad_client_id", "ad_org_id", "created", "updated", "isactive", "createdby",
                   "updatedby")
        uus = new_uuids(len(texts))
        rows = [(order_id, line, unit, text_, None if n % 3 == 0 else T0 + timedelta(seconds=n), None, uu, 0, 0,
                 now, now, n % 2 == 0, 0, 0)
                for n, ((line, unit), text_, uu) in enumerate(zip(keys, texts, uus, strict=True))]
        repeated = (*rows[0][:6], new_uuids(1)[0], *rows[0][7:])  # the first row's key again, another uuid
        went_in = bulk.insert_rows(s, OmsOrderItem.__table__, columns, [*rows, repeated],
                                   on_conflict=("oms_orderline_id", "unit_no"))
        assert went_in == len(texts)
    with session_scope(store_settings, readonly=True) as s:
        stored = s.scalars(select(OmsOrderItem).order_by(OmsOrderItem.id)).all()
        assert [(i.oms_orderline_id, i.unit_no, i.tracking_number, i.invoice_date, i.status, i.uu, i.created,
                 i.isactive) for i in stored] == [(r[1], r[2], r[3], r[4], None, r[6], now, r[11]) for r in rows]
    with session_scope(store_settings) as s:  # one row: every value is the batch's only one
        row = (order_id, line_ids[0], 1, "solo", None, "100", new_uuids(1)[0], 0, 0, now, now, True, 0, 0)
        assert bulk.insert_rows(s, OmsOrderItem.__table__, columns, [row]) == 1
        assert s.scalars(select(OmsOrderItem.tracking_number).where(OmsOrderItem.unit_no == 1)).all() == ["solo"]


def test_array_literal_writes_integers_uuids_and_nulls():
    value = uuid.UUID("0190b7b0-0000-7000-8000-000000000001")
    assert array_literal([1, None, -3, 2**40]) == "{1,NULL,-3,1099511627776}"
    assert array_literal([value, None]) == "{0190b7b0-0000-7000-8000-000000000001,NULL}"
    assert array_literal([]) == "{}"


def test_row_uuids_are_version_7_and_follow_time():
    """RFC 9562 version 7: the time in milliseconds first, so new keys land at the end of their unique index (a
    random version 4 key dirtied a random index page per row); ascending within a batch and across batches; the
    random bits keep them unique."""
    before = time.time_ns() // 1_000_000
    values = new_uuids(500)
    later = new_uuids(3)
    after = time.time_ns() // 1_000_000
    assert len(set(values)) == 500
    assert all(isinstance(v, uuid.UUID) and v.version == 7 and v.variant == uuid.RFC_4122 for v in values)
    assert all(before <= v.int >> 80 <= after for v in values + later)
    assert values == sorted(values) and max(values).int >> 80 <= min(later).int >> 80
    assert len({v.int & ((1 << 62) - 1) for v in values}) == 500
    first, second = new_uuids(2), new_uuids(2)  # two batches of one millisecond start at random places
    assert {u.int >> 24 & ((1 << 38) - 1) for u in first} != {u.int >> 24 & ((1 << 38) - 1) for u in second}
    assert new_uuid().version == 7

def test_due_tables_rule():
    rows = [("oms_order", -1.0, 0), ("oms_orderline", 100_000.0, 5_000), ("oms_delivery", 10_000.0, 0)]
    assert due_tables(rows, 999, 10) == []  # below MIN_ROWS
    assert due_tables(rows, MIN_ROWS, 10) == ["oms_order", "oms_delivery"]  # never analysed; 10 % of 10,000
    assert due_tables(rows, 20_000, 10) == ["oms_order", "oms_orderline", "oms_delivery"]
    assert due_tables(rows, 20_000, 100) == ["oms_order", "oms_delivery"]


def test_oms_reads_analyse_their_tables_once_per_doubling(pg_settings, monkeypatch):
    """note_load (the OMS's first reads) analyses a table again only once its changes reach OMS_PERCENT of it, where
    a GetOrder load goes by the setting's 10 %: re-analysing a table read only by order id every 10 % of growth
    sampled it whole every ten pages and changed no plan."""
    from oms_bridge.store import statistics

    monkeypatch.setattr(statistics, "MIN_ROWS", 10)
    monkeypatch.setattr(statistics, "_noted", {})
    engine = get_engine(pg_settings)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS stats_probe")
        conn.exec_driver_sql("CREATE TABLE stats_probe AS SELECT g AS n FROM generate_series(1, 100) g")
    engine.dispose()  # the loading backend ends: its insert counts are reported before the ANALYZE
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE stats_probe")  # now known at 100 rows
        assert statistics.note_load(pg_settings, 60, ("stats_probe",)) == []  # 60 % of it: not yet
        assert refresh_after_load(pg_settings, 60, ("stats_probe",)) == ["stats_probe"]  # a GetOrder load: due
        assert statistics.note_load(pg_settings, 100, ("stats_probe",)) == ["stats_probe"]  # doubled
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE stats_probe")


def test_sqlite_load_analyses_nothing(sqlite_settings):
    assert refresh_after_load(sqlite_settings, 50_000) == []


def _analyze_count(settings, table: str) -> tuple[int, datetime | None]:
    with get_engine(settings).connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return conn.execute(text("SELECT analyze_count, last_analyze FROM pg_stat_user_tables WHERE relname = :t"),
                            {"t": table}).one()


def test_postgres_bulk_load_refreshes_statistics_and_the_lookup_uses_the_key(pg_settings):
    channel_id = _add_channel(pg_settings, "shop-big")
    before = {t: _analyze_count(pg_settings, t)[0] for t in ("oms_order", "oms_orderline")}
    stats = RunStats(process="getorder", channel_id=channel_id)
    size = MIN_ROWS + 200
    counts = store_orders([make_order(n) for n in range(size)], channel_id, stats, pg_settings,
                          now_fn=lambda: datetime.now(UTC))
    assert counts.new == size
    assert set(stats.details["analyzed"]) >= {"oms_order", "oms_orderline", "oms_order_status", "oms_delivery"}
    deadline = time.monotonic() + 15  # the statistics are reported by the analysing backend, a moment later
    while True:
        after = {t: _analyze_count(pg_settings, t) for t in before}
        if all(after[t][0] > before[t] for t in before) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert all(after[t][0] > before[t] and after[t][1] is not None for t in before), (before, after)
    # oms_order is vacuumed too: its visibility map marks every page all-visible, so the OMS's page counts and id
    # walks read its indexes alone (unvacuumed, every count read every row's heap page)
    with get_engine(pg_settings).connect() as conn:
        pages, visible = conn.execute(text(
            "SELECT relpages, relallvisible FROM pg_class WHERE relname = 'oms_order'")).one()
    assert pages > 0 and visible == pages, (pages, visible)
    # The upsert's lookup of existing orders now goes through the unique key, not a scan (a handful of keys: in a
    # table this small a scan is the right plan for a whole batch).
    keys = ", ".join(f"'BK{n:06d}'" for n in range(0, 20, 2))
    with get_engine(pg_settings).connect() as conn:
        plan = "\n".join(conn.exec_driver_sql(
            f"EXPLAIN SELECT external_id, payload_hash FROM oms_order WHERE oms_channel_id = {channel_id} "
            f"AND external_id IN ({keys})").scalars())
    # either key index serves (the unique (channel, number) one, or the number index the orders search uses)
    assert "Index" in plan and "Seq Scan" not in plan, plan
    # (Whether a later small run analyses again depends on when the loading backends reported their inserts:
    # counts reported after the ANALYZE still count as changes since it. The rule itself: test_due_tables_rule.)
