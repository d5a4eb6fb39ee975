"""The address catalogue the OMS copies (countries → cities → townships → districts) and how an
order's address resolves to catalogue ids.

Seed: ``data/tw_divisions.json`` holds Taiwan's 22 counties/cities (縣市, the OMS *city*) and their
368 townships (鄉鎮市區, the OMS *township*) with 3-digit postcodes. Taiwan has no postal level
below the township that orders carry (村里 are not in marketplace addresses), so every township
has exactly one OMS *district* of the same name and postcode; the OMS's district-level scenario
rules then work like township rules.

Resolution (:func:`resolve_address`), the rule the OMS scenario rules rely on:

1. Country by ISO code (``default_country`` when the order has none).
2. City by name after normalising (trim, full-width spaces, ``台`` → ``臺``); when the name is not a
   known city but the order's ``state`` is (some platforms put 縣市 in ``state`` and 鄉鎮市區 in
   ``city``), the parts are read one level up.
3. Township by name within the city; failing that by postcode when exactly one township of the
   city (or, without a city, of the country) has it.
4. A place the catalogue does not know is **added** (``source='order'``), so every order address
   has ids; the admin sees these rows as ``source=order`` and can correct them.
5. Masked parts (Shopee TW masks recipients as ``****``) and non-numeric postcodes count as absent:
   a fully masked address resolves to its country only, and nothing masked enters the catalogue.

New rows are inserted inside a savepoint keyed by the unique constraints, so two requests adding
the same place at once end with one row.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_bridge.store import bulk
from oms_bridge.store.models import utcnow
from oms_bridge.store.models.oms import OmsCity, OmsCountry, OmsDistrict, OmsTownship
from oms_bridge.store.rows import columns_of, plain, records
from oms_bridge.store.uuids import new_uuids

__all__ = ["ResolvedAddress", "AddressKey", "normalize_place", "seed_data", "catalogue_loaded", "ensure_catalogue",
           "resolve_address", "resolve_addresses"]


@dataclass(frozen=True)
class ResolvedAddress:
    """Catalogue rows an address resolved to (any level may be None when the order lacks it): plain rows with the
    models' attribute names, or the model objects themselves for places added while resolving."""

    country: OmsCountry | None
    city: OmsCity | None
    township: OmsTownship | None
    district: OmsDistrict | None


def normalize_place(name: str | None) -> str:
    """Canonical spelling of a place name: NFKC, no spaces, ``台`` written ``臺``."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKC", name).strip().replace(" ", "")
    return text.replace("台", "臺")


@lru_cache(maxsize=1)
def seed_data() -> dict[str, Any]:
    """The Taiwan divisions seed (parsed once)."""
    raw = resources.files("oms_bridge.oms").joinpath("data/tw_divisions.json").read_text(encoding="utf-8")
    return json.loads(raw)


def catalogue_loaded(session: Session) -> bool:
    """True when the seed's country is in the catalogue (then :func:`ensure_catalogue` writes nothing)."""
    return seed_data()["country"]["code"] in _snapshot(session).countries


def ensure_catalogue(session: Session) -> bool:
    """Load the seed when its country is missing; True when it was loaded now.

    The seed goes in as one unit inside a savepoint: a concurrent loader's unique violation rolls
    ours back and leaves theirs. One insert per level (cities, townships, districts) and a read-back of the
    new ids between them: the first read of ``orders/`` on a new store pays a handful of statements for it, not
    one per city (issue 18).
    """
    data = seed_data()
    code = data["country"]["code"]
    if catalogue_loaded(session):
        return False
    session.info.pop(_SESSION_KEY, None)  # the snapshot this unit read no longer holds, whoever loads the seed
    try:
        with session.begin_nested():
            country = OmsCountry(code=code, name=data["country"]["name"])
            session.add(country)
            session.flush()
            _seed_level(session, OmsCity, [(country.id, c["name"], c["postcode"]) for c in data["cities"]],
                        ("oms_country_id", "name", "postcode"))
            city_ids = dict(session.execute(select(OmsCity.name, OmsCity.id).where(
                OmsCity.oms_country_id == country.id)).tuples().all())
            _seed_level(session, OmsTownship, [(city_ids[c["name"]], name, postcode) for c in data["cities"]
                                               for name, postcode in c["townships"]],
                        ("oms_city_id", "name", "postcode"))
            townships = session.execute(select(OmsTownship.oms_city_id, OmsTownship.id, OmsTownship.name,
                                               OmsTownship.postcode).where(
                OmsTownship.oms_city_id.in_(list(city_ids.values())))).tuples().all()
            _seed_level(session, OmsDistrict, [(city_id, township_id, name, postcode)
                                               for city_id, township_id, name, postcode in townships],
                        ("oms_city_id", "oms_township_id", "name", "postcode"))
    except IntegrityError:
        return False
    return True


def _seed_level(session: Session, model: type, rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> None:
    """Insert one level of the seed (``rows`` in ``columns`` order) with one statement, as seed rows."""
    now = utcnow()
    table = model.__table__
    ad = (f"{table.name}_uu", "source", "ad_client_id", "ad_org_id", "created", "updated", "isactive", "createdby",
          "updatedby")
    bulk.insert_rows(session, table, columns + ad, [(*row, uu, "seed", 0, 0, now, now, True, 0, 0)
                                                    for row, uu in zip(rows, new_uuids(len(rows)), strict=True)])


def _usable(value: str | None) -> bool:
    """False for empty and masked values (Shopee TW masks recipients as ``****``)."""
    return bool(value and value.strip() and "*" not in value)


def _place(value: str | None) -> str:
    return normalize_place(value) if _usable(value) else ""


def _get_or_add(session: Session, model: type, lookup: dict[str, Any], extra: dict[str, Any]) -> Any:
    stmt = select(model).filter_by(**lookup)
    row = session.scalars(stmt).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = model(**lookup, **extra, source="order")
            session.add(row)
            session.flush()
    except IntegrityError:
        row = session.scalars(stmt).one()
    return row


#: An address as an order carries it: (country, state, city, district, postcode).
AddressKey = tuple[str | None, str | None, str | None, str | None, str | None]


@dataclass(frozen=True)
class _Snapshot:
    """Every catalogue row (plain rows, :mod:`oms_bridge.store.rows`) and the lookups of :class:`_Catalogue` over
    them, as of ``marker``. Shared by the process's requests: never changed once made."""

    marker: tuple[Any, ...]
    countries: dict[str, Any]
    cities: dict[int, Any]
    city_names: dict[tuple[int, str], Any]
    township_names: dict[tuple[int, str], Any]
    township_zips: dict[str, list[Any]]
    districts: dict[tuple[int, str], Any]


_SNAPSHOTS: dict[str, _Snapshot] = {}  # database URL → its catalogue
#: the snapshot a unit of work read (``Session.info``): one marker query per transaction
_SESSION_KEY = "oms_catalogue_snapshot"


def _marker_statement() -> Any:
    """One row: the count, highest id and latest ``updated`` of each level, each level's table read once (three
    scalar subqueries a level read each table three times: 0.8 ms a page on PostgreSQL, every page)."""
    levels = [select(func.count().label("n"), func.max(table.c[f"{table.name}_id"]).label("top"),
                     func.max(table.c.updated).label("last")).subquery()
              for table in (model.__table__ for model in (OmsCountry, OmsCity, OmsTownship, OmsDistrict))]
    joined = levels[0]
    for level in levels[1:]:
        joined = joined.join(level, true())  # one row each: the cross join is the one row
    return select(*(column for level in levels for column in level.c)).select_from(joined)


_MARKER = _marker_statement()


def _marker(session: Session) -> tuple[Any, ...]:
    """What changes whenever a catalogue row is added, removed or changed through the store (count, highest id and
    latest ``updated`` of each level), read with one statement."""
    return tuple(plain(session, _MARKER).one())


def _snapshot(session: Session) -> _Snapshot:
    """The catalogue as of now: the process's copy when its marker still holds, else read again (four queries).

    Why: every page of ``orders/`` resolves its addresses against the catalogue, and reading the rows it needs
    took four queries and about a tenth of a page's time (issue 18); the catalogue (Taiwan's 390 places plus the
    few that orders add) changes seldom. The marker is read on every page, in the page's own transaction, so a
    place another process added is seen at once. An edit made outside the store that keeps every count, id and
    ``updated`` as it was is not seen until the process restarts.
    """
    mine = session.info.get(_SESSION_KEY)
    if mine is not None:
        return mine
    key = session.get_bind().url.render_as_string(hide_password=True)
    marker = _marker(session)
    found = _SNAPSHOTS.get(key)
    if found is not None and found.marker == marker:
        session.info[_SESSION_KEY] = found
        return found
    index = _Catalogue(session, None)
    index.countries = {c.code: c for c in records(session.execute(select(*columns_of(OmsCountry))))}
    for city in records(session.execute(select(*columns_of(OmsCity)).order_by(OmsCity.id))):
        index._city(city)
    for township in records(session.execute(select(*columns_of(OmsTownship)).order_by(OmsTownship.id))):
        index._township(township)
    index.districts = {(d.oms_township_id, d.name): d
                       for d in records(session.execute(select(*columns_of(OmsDistrict))))}
    found = _SNAPSHOTS[key] = _Snapshot(marker, index.countries, index.cities, index.city_names, index.township_names,
                                        index.township_zips, index.districts)
    session.info[_SESSION_KEY] = found
    return found


class _Catalogue:
    """The catalogue rows a page of addresses can resolve to, from the process's snapshot (:func:`_snapshot`).

    Why: resolving each address with its own lookups (and a write-capable get-or-add for every level) cost
    several statements per distinct address on every read of ``orders/`` (issue 18). The rule
    (:func:`_resolve`) asks this object instead; it answers from the snapshot, and only a place the catalogue
    really lacks goes through :func:`_get_or_add` (a write, inside a savepoint), whose row it then remembers in
    this object's own copies of the lookups (the snapshot is shared and never changed).
    """

    def __init__(self, session: Session, snap: _Snapshot | None) -> None:
        self.session = session
        self.countries: dict[str, OmsCountry] = dict(snap.countries) if snap else {}
        self.cities: dict[int, OmsCity] = dict(snap.cities) if snap else {}
        self.city_names: dict[tuple[int, str], OmsCity] = dict(snap.city_names) if snap else {}
        self.township_names: dict[tuple[int, str], OmsTownship] = dict(snap.township_names) if snap else {}
        self.township_zips: dict[str, list[OmsTownship]] = dict(snap.township_zips) if snap else {}
        self.districts: dict[tuple[int, str], OmsDistrict] = dict(snap.districts) if snap else {}

    def _city(self, row: OmsCity) -> OmsCity:
        self.cities[row.id] = row
        self.city_names.setdefault((row.oms_country_id, row.name), row)
        return row

    def _township(self, row: OmsTownship) -> OmsTownship:
        self.township_names.setdefault((row.oms_city_id, row.name), row)
        same_zip = self.township_zips.get(row.postcode, []) if row.postcode else []
        if row.postcode and row not in same_zip:
            self.township_zips[row.postcode] = [*same_zip, row]  # a new list: the snapshot's lists stay as they are
        return row

    def country(self, code: str) -> OmsCountry:
        row = self.countries.get(code)
        if row is None:
            row = self.countries[code] = _get_or_add(self.session, OmsCountry, {"code": code}, {"name": code})
        return row

    def city(self, country: OmsCountry, name: str) -> OmsCity | None:
        if not name:
            return None
        return self.city_names.get((country.id, name))

    def city_by_id(self, city_id: int) -> OmsCity | None:
        return self.cities.get(city_id) or self.session.get(OmsCity, city_id)

    def township(self, city: OmsCity, name: str) -> OmsTownship | None:
        return self.township_names.get((city.id, name))

    def township_by_postcode(self, country: OmsCountry, city: OmsCity | None, postcode: str) -> OmsTownship | None:
        """The one township with this postcode in the city (or, without a city, in the country); None when
        none or several have it."""
        if not postcode:
            return None
        found = [t for t in self.township_zips.get(postcode[:3], ())
                 if (t.oms_city_id == city.id if city is not None
                     else getattr(self.cities.get(t.oms_city_id), "oms_country_id", None) == country.id)]
        return found[0] if len(found) == 1 else None

    def add_city(self, country: OmsCountry, name: str, postcode: str) -> OmsCity:
        return self._city(_get_or_add(self.session, OmsCity, {"oms_country_id": country.id, "name": name},
                                      {"postcode": postcode or None}))

    def add_township(self, city: OmsCity, name: str, postcode: str) -> OmsTownship:
        return self._township(_get_or_add(self.session, OmsTownship, {"oms_city_id": city.id, "name": name},
                                          {"postcode": postcode or None}))

    def district(self, township: OmsTownship) -> OmsDistrict:
        row = self.districts.get((township.id, township.name))
        if row is None:
            row = self.districts[(township.id, township.name)] = _get_or_add(
                self.session, OmsDistrict, {"oms_township_id": township.id, "name": township.name},
                {"oms_city_id": township.oms_city_id, "postcode": township.postcode})
        return row


def _country_code(code: str | None, default_country: str) -> str:
    code = code if _usable(code) else None
    return (code or default_country or "TW").strip().upper()[:2] or "TW"


def _zip3(postcode: str | None) -> str:
    zip3 = (postcode or "").strip()[:3]
    return zip3 if zip3.isdigit() else ""


def _resolve(catalogue: _Catalogue, key: AddressKey, default_country: str) -> ResolvedAddress:
    """The resolution rule of the module doc, for one address."""
    country, state, city, district, postcode = key
    country_row = catalogue.country(_country_code(country, default_country))
    city_name, township_name = _place(city), _place(district)
    state_name = _place(state)
    zip3 = _zip3(postcode)
    city_row = catalogue.city(country_row, city_name)
    if city_row is None and state_name:
        state_row = catalogue.city(country_row, state_name)
        if state_row is not None:  # 縣市 in state, 鄉鎮市區 in city
            city_row, township_name = state_row, township_name or city_name
            city_name = state_name
    township_row = None
    if city_row is not None and township_name:
        township_row = catalogue.township(city_row, township_name)
    if township_row is None:
        township_row = catalogue.township_by_postcode(country_row, city_row, zip3)
        if township_row is not None and city_row is None:
            city_row = catalogue.city_by_id(township_row.oms_city_id)
    if city_row is None and city_name:
        city_row = catalogue.add_city(country_row, city_name, zip3)
    if township_row is None and city_row is not None and township_name:
        township_row = catalogue.add_township(city_row, township_name, zip3)
    district_row = catalogue.district(township_row) if township_row is not None else None
    return ResolvedAddress(country_row, city_row, township_row, district_row)


def resolve_addresses(session: Session, keys: list[AddressKey], *,
                      default_country: str = "TW") -> dict[AddressKey, ResolvedAddress]:
    """Catalogue rows for a page of order addresses (see module doc); reads a few queries for the whole page and
    writes only the places the catalogue lacks."""
    unique = list(dict.fromkeys(keys))
    catalogue = _Catalogue(session, _snapshot(session))
    return {key: _resolve(catalogue, key, default_country) for key in unique}


def resolve_address(session: Session, *, country: str | None, state: str | None, city: str | None,
                    district: str | None, postcode: str | None, default_country: str = "TW") -> ResolvedAddress:
    """Catalogue rows for one order address (see module doc); adds unknown places."""
    key = (country, state, city, district, postcode)
    return resolve_addresses(session, [key], default_country=default_country)[key]
