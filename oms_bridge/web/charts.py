"""The data behind the dashboard's charts, as JSON-ready dicts (Chart.js ``labels`` + ``datasets``).

Everything is counted by the database in hourly buckets (``GROUP BY`` an hour key), never by loading
rows, so a chart costs the same on 50,000 orders as on 50. The hour key is the same text on both
stores (``YYYY-MM-DD HH`` in UTC): SQLite keeps naive UTC text (cut to the hour), PostgreSQL truncates
its timestamptz to the UTC hour (``date_trunc``, cheaper than formatting every row as text).
Labels are shown in the display time zone (:mod:`oms_bridge.web.display`).

- :func:`orders_per_hour`: orders by their marketplace creation time, one series per channel;
- :func:`backlog_over_time`: deliveries due but not delivered at the end of each hour, rebuilt from
  each row's ``armed_at`` (became due) and ``sent_at`` (delivered); rows waiting for a condition
  (``waiting``) are not backlog. A row keeps only its latest arming, so an earlier, already delivered
  version is not counted twice; held rows count as backlog until released;
- held count over time: the deliveries held now, by when they were held (``updated`` of the held row);
- :func:`run_durations`: each recent run's duration in seconds, one series per process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, literal_column, select
from sqlalchemy.orm import Session

from oms_bridge.store.models import Channel, Delivery, Order, ProcessRun
from oms_bridge.store.types import UtcDateTime
from oms_bridge.web.display import localtime

__all__ = ["orders_per_hour", "backlog_over_time", "run_durations", "hour_keys"]

_KEY_FORMAT = "%Y-%m-%d %H"


def _hour_key(session: Session, column: Any) -> ColumnElement[Any]:
    """The hour (UTC) of a timestamp column, computed by the database: ``YYYY-MM-DD HH`` text on SQLite
    (its stored text cut short), the truncated UTC timestamp on PostgreSQL (see :func:`_key`)."""
    # Constants inlined, not bound: PostgreSQL matches the SELECT and GROUP BY expressions only when equal.
    if session.get_bind().dialect.name == "sqlite":
        return func.substr(column, literal_column("1"), literal_column("13"))
    return func.date_trunc(literal_column("'hour'"), func.timezone(literal_column("'UTC'"), column))


def _key(value: Any) -> str:
    """An hour as :func:`_hour_key` returned it, as the ``YYYY-MM-DD HH`` key the series use."""
    return value if isinstance(value, str) else value.strftime(_KEY_FORMAT)


def hour_keys(now: datetime, hours: int) -> list[str]:
    """The ``hours`` hour keys ending with the current hour, oldest first."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [(top - timedelta(hours=h)).strftime(_KEY_FORMAT) for h in range(hours - 1, -1, -1)]


def _labels(keys: list[str], hours: int) -> list[str]:
    fmt = "%H:%M" if hours <= 24 else "%m-%d %H:%M"
    return [localtime(datetime.strptime(k, _KEY_FORMAT).replace(tzinfo=UTC), fmt) for k in keys]


def orders_per_hour(session: Session, now: datetime, hours: int) -> dict[str, Any]:
    """Orders created per hour over the last ``hours`` hours, one dataset per channel with orders."""
    keys = hour_keys(now, hours)
    start = datetime.strptime(keys[0], _KEY_FORMAT).replace(tzinfo=UTC)
    bucket = _hour_key(session, Order.order_created)
    rows = session.execute(select(Order.oms_channel_id, bucket, func.count())
                           .where(Order.order_created >= start).group_by(Order.oms_channel_id, bucket))
    names = dict(session.execute(select(Channel.id, Channel.value)).all())
    series: dict[str, dict[str, int]] = {}
    for channel_id, hour, n in rows:
        series.setdefault(names.get(channel_id, str(channel_id)), {})[_key(hour)] = n
    return {"labels": _labels(keys, hours),
            "datasets": [{"label": name, "data": [by_hour.get(k, 0) for k in keys]}
                         for name, by_hour in sorted(series.items())]}


def backlog_over_time(session: Session, now: datetime, hours: int) -> dict[str, Any]:
    """Deliveries due but undelivered, and deliveries held, at the end of each hour (see module doc).

    One pass over the outbox: each row gives the hour it became due, was delivered and was held (times
    before the window fall into the hour before it, which starts the running sums); one ``GROUP BY``
    over those three hours, then running sums here."""
    keys = hour_keys(now, hours)
    start = datetime.strptime(keys[0], _KEY_FORMAT).replace(tzinfo=UTC)
    before = start - timedelta(hours=1)

    def hour_of(column: Any, condition: ColumnElement[bool]) -> ColumnElement[Any]:
        clipped = case((column < start, literal(before, UtcDateTime())), else_=column)
        return case((and_(condition, column.is_not(None)), _hour_key(session, clipped)))

    armed = hour_of(Delivery.armed_at, Delivery.state != "waiting")
    sent = hour_of(Delivery.sent_at, and_(Delivery.state == "sent", Delivery.sent_at >= Delivery.armed_at))
    held = hour_of(Delivery.updated, Delivery.state == "held")
    # Positional GROUP BY: the CASE holds bound values, which PostgreSQL would not match across clauses.
    rows = session.execute(select(armed, sent, held, func.count())
                           .group_by(literal_column("1"), literal_column("2"), literal_column("3")))
    events: dict[str, dict[str, int]] = {"armed": {}, "sent": {}, "held": {}}
    for a_hour, s_hour, h_hour, n in rows:
        for name, hour in (("armed", a_hour), ("sent", s_hour), ("held", h_hour)):
            if hour is not None:
                events[name][_key(hour)] = events[name].get(_key(hour), 0) + n
    series = {name: _running(by_hour, [before.strftime(_KEY_FORMAT), *keys])[1:] for name, by_hour in events.items()}
    return {"labels": _labels(keys, hours),
            "datasets": [{"label": "backlog (due, not delivered)",
                          "data": [a - b for a, b in zip(series["armed"], series["sent"], strict=True)]},
                         {"label": "held", "data": series["held"]}]}


def _running(by_hour: dict[str, int], keys: list[str]) -> list[int]:
    total, out = 0, []
    for key in keys:
        total += by_hour.get(key, 0)
        out.append(total)
    return out


def run_durations(session: Session, now: datetime, hours: int = 24, limit: int = 500,
                  process: str | None = None) -> dict[str, Any]:
    """Durations (seconds) of the last ``limit`` finished runs within ``hours`` (of one ``process`` when
    given), one dataset per process.

    Points are ``{x: label, y: seconds}`` on a shared category axis of the runs' start times."""
    since = now - timedelta(hours=hours)
    where = [ProcessRun.started >= since, ProcessRun.ended.is_not(None)]
    if process:
        where.append(ProcessRun.process == process)
    rows = session.execute(select(ProcessRun.id, ProcessRun.process, ProcessRun.started, ProcessRun.ended)
                           .where(*where).order_by(ProcessRun.started.desc()).limit(limit)).all()
    rows.reverse()
    when = [localtime(r.started, "%m-%d %H:%M:%S") for r in rows]
    series: dict[str, list[dict[str, Any]]] = {}
    for label, r in zip(when, rows, strict=True):
        series.setdefault(r.process, []).append(
            {"x": label, "y": round((r.ended - r.started).total_seconds(), 3), "id": r.id})
    # Each label once: Chart.js places a point by the first equal label (runs started in the same second share one).
    labels = list(dict.fromkeys(when))
    return {"labels": labels, "datasets": [{"label": p, "data": pts} for p, pts in sorted(series.items())]}
