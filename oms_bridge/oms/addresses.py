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

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_bridge.store.models.oms import OmsCity, OmsCountry, OmsDistrict, OmsTownship

__all__ = ["ResolvedAddress", "normalize_place", "seed_data", "ensure_catalogue", "resolve_address"]


@dataclass(frozen=True)
class ResolvedAddress:
    """Catalogue rows an address resolved to (any level may be None when the order lacks it)."""

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


def ensure_catalogue(session: Session) -> bool:
    """Load the seed when its country is missing; True when it was loaded now.

    The seed goes in as one unit inside a savepoint: a concurrent loader's unique violation rolls
    ours back and leaves theirs.
    """
    data = seed_data()
    code = data["country"]["code"]
    if session.scalars(select(OmsCountry.id).where(OmsCountry.code == code)).first() is not None:
        return False
    try:
        with session.begin_nested():
            country = OmsCountry(code=code, name=data["country"]["name"])
            session.add(country)
            session.flush()
            for city_data in data["cities"]:
                city = OmsCity(oms_country_id=country.id, name=city_data["name"], postcode=city_data["postcode"])
                session.add(city)
                session.flush()
                townships = [OmsTownship(oms_city_id=city.id, name=name, postcode=postcode)
                             for name, postcode in city_data["townships"]]
                session.add_all(townships)
                session.flush()  # one batched INSERT per city
                session.add_all([OmsDistrict(oms_city_id=city.id, oms_township_id=t.id, name=t.name,
                                             postcode=t.postcode) for t in townships])
            session.flush()
    except IntegrityError:
        return False
    return True


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


def _country(session: Session, code: str | None, default_country: str) -> OmsCountry:
    iso = (code or default_country or "TW").strip().upper()[:2] or "TW"
    return _get_or_add(session, OmsCountry, {"code": iso}, {"name": iso})


def _city_by_name(session: Session, country: OmsCountry, name: str) -> OmsCity | None:
    if not name:
        return None
    return session.scalars(select(OmsCity).where(OmsCity.oms_country_id == country.id, OmsCity.name == name)).first()


def _township_by_postcode(session: Session, country: OmsCountry, city: OmsCity | None,
                          postcode: str) -> OmsTownship | None:
    if not postcode:
        return None
    stmt = select(OmsTownship).join(OmsCity, OmsTownship.oms_city_id == OmsCity.id).where(
        OmsCity.oms_country_id == country.id, OmsTownship.postcode == postcode[:3])
    if city is not None:
        stmt = stmt.where(OmsTownship.oms_city_id == city.id)
    rows = session.scalars(stmt.limit(2)).all()
    return rows[0] if len(rows) == 1 else None


def resolve_address(session: Session, *, country: str | None, state: str | None, city: str | None,
                    district: str | None, postcode: str | None, default_country: str = "TW") -> ResolvedAddress:
    """Catalogue rows for an order address (see module doc for the rule); adds unknown places."""
    country_row = _country(session, country if _usable(country) else None, default_country)
    city_name, township_name = _place(city), _place(district)
    state_name = _place(state)
    zip3 = (postcode or "").strip()[:3]
    if not zip3.isdigit():
        zip3 = ""
    city_row = _city_by_name(session, country_row, city_name)
    if city_row is None and state_name:
        state_row = _city_by_name(session, country_row, state_name)
        if state_row is not None:  # 縣市 in state, 鄉鎮市區 in city
            city_row, township_name = state_row, township_name or city_name
            city_name = state_name
    township_row = None
    if city_row is not None and township_name:
        township_row = session.scalars(select(OmsTownship).where(
            OmsTownship.oms_city_id == city_row.id, OmsTownship.name == township_name)).first()
    if township_row is None:
        township_row = _township_by_postcode(session, country_row, city_row, zip3)
        if township_row is not None and city_row is None:
            city_row = session.get(OmsCity, township_row.oms_city_id)
    if city_row is None and city_name:
        city_row = _get_or_add(session, OmsCity, {"oms_country_id": country_row.id, "name": city_name},
                               {"postcode": zip3 or None})
    if township_row is None and city_row is not None and township_name:
        township_row = _get_or_add(session, OmsTownship, {"oms_city_id": city_row.id, "name": township_name},
                                   {"postcode": zip3 or None})
    district_row = None
    if township_row is not None:
        district_row = _get_or_add(
            session, OmsDistrict, {"oms_township_id": township_row.id, "name": township_row.name},
            {"oms_city_id": township_row.oms_city_id, "postcode": township_row.postcode})
    return ResolvedAddress(country_row, city_row, township_row, district_row)
