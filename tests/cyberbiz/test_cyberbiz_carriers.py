"""Carrier names → Cyberbiz tracking_company codes (pure)."""

from __future__ import annotations

import pytest

from platforms.cyberbiz.carriers import TRACKING_COMPANIES, tracking_company


@pytest.mark.parametrize(("carrier", "code"), [
    ("SEVEN", "SEVEN"), ("seven", "SEVEN"), ("dhl", "DHL"), ("EZCAT", "ezcat"), ("黑貓", "ezcat"),
    ("7-11", "SEVEN"), ("新竹貨運", "hct"), ("郵局", "postserv"), (" hct ", "hct"), ("other", "other"),
    ("brand_new_carrier", "brand_new_carrier"),
])
def test_cyberbiz_carrier_names_resolve(carrier, code):
    assert tracking_company(carrier) == code


def test_cyberbiz_carrier_map_wins_and_default_fills_in():
    assert tracking_company("黑貓", carrier_map={"黑貓": "ezcat_cvs"}) == "ezcat_cvs"
    assert tracking_company(None, default="hct") == "hct"
    assert tracking_company("  ") == "other"
    assert "cyberbiz_express" in TRACKING_COMPANIES and len(set(TRACKING_COMPANIES)) == len(TRACKING_COMPANIES)
