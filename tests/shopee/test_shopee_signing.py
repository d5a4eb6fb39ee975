"""The [V] signing vectors of shared/specs/marketplaces.md §1, and the push-notification verifier."""

from __future__ import annotations

import pytest

from platforms.shopee import signing

KEY = "test-partner-key"


@pytest.mark.parametrize(("base", "expected"), [
    ("2001887/api/v2/shop/get_shop_info165571443159777174636562737266615546704c6d14701711",
     "faf4a60d51e5807794fd37d18f605d4e8d1370ba96d66245e23d22c77cb6f090"),
    ("2001887/api/v2/global_product/get_category165571443109777174636962737266615546704c6d1000000",
     "1a16a1f85cedc9c5de045657b6575e159b2620c47d8016407dde8b205e2f3f84"),
    ("2001887/api/v2/public/get_shops_by_partner1655714431",
     "eb64c45d9acbec13d6055f604ec1e5b055977f894f80b78659ca0ac06de0d376"),
    ("1000016/api/v2/shop/auth_partner1657254106",
     "051bcb1feaf7f34a5a7d3bf43abac0418ec2ac8700c71e5557494a4de4016f0b"),
    ("1000016/api/v2/auth/token/get1657263479",
     "fced901fbd9c681ce9603d3087c64a5879901f2afaf663fa9bd993aa049b8dd6"),
    ("2001887/api/v2/order/get_order_list165571443159777174636562737266615546704c6d14701711",
     "59eb9942f8342cc65a49fbe9e9ad44ae946be96c807f4d1a5eb4b332fb5ff0a1"),
])
def test_shopee_sign_vectors(base, expected):
    assert signing.sign(KEY, base) == expected


def test_shopee_base_strings_are_built_like_the_official_examples():
    token = "59777174636562737266615546704c6d"
    assert signing.base_string(2001887, "/api/v2/shop/get_shop_info", 1655714431, token, 14701711) == (
        "2001887/api/v2/shop/get_shop_info165571443159777174636562737266615546704c6d14701711")
    assert signing.shop_sign(KEY, 2001887, "/api/v2/order/get_order_list", 1655714431, token, 14701711) == (
        "59eb9942f8342cc65a49fbe9e9ad44ae946be96c807f4d1a5eb4b332fb5ff0a1")
    assert signing.merchant_sign(KEY, 2001887, "/api/v2/global_product/get_category", 1655714431,
                                 "09777174636962737266615546704c6d", 1000000) == (
        "1a16a1f85cedc9c5de045657b6575e159b2620c47d8016407dde8b205e2f3f84")
    assert signing.public_sign(KEY, 1000016, "/api/v2/auth/token/get", 1657263479) == (
        "fced901fbd9c681ce9603d3087c64a5879901f2afaf663fa9bd993aa049b8dd6")
    assert signing.public_sign(KEY, 1000016, "/api/v2/shop/auth_partner", 1657254106) == (
        "051bcb1feaf7f34a5a7d3bf43abac0418ec2ac8700c71e5557494a4de4016f0b")


PUSH_URL = "http://www.example.com/example/uri"
PUSH_BODY = ('{"shop_id": 123, "code": 1, "success": 1, "extra": "shop_id 123 is authorized successfully", '
             '"data": {"more_info": "more info"}, "timestamp": 1470198856}')
PUSH_SIGN = "0e7c6eed090652736aba57e630e330415eae33b14bb237b714ea7e6267ef09aa"


def test_shopee_push_vector_and_verifier():
    assert signing.push_signature(KEY, PUSH_URL, PUSH_BODY) == PUSH_SIGN
    assert signing.push_signature(KEY, PUSH_URL, PUSH_BODY.encode()) == PUSH_SIGN
    assert signing.verify_push(KEY, PUSH_URL, PUSH_BODY.encode(), PUSH_SIGN)
    assert signing.verify_push(KEY, PUSH_URL, PUSH_BODY, PUSH_SIGN.upper())


@pytest.mark.parametrize("tamper", ["body", "url", "key", "missing"])
def test_shopee_push_verifier_rejects_anything_changed(tamper):
    url, body, key, header = PUSH_URL, PUSH_BODY, KEY, PUSH_SIGN
    if tamper == "body":
        body = body.replace('"code": 1', '"code": 2')
    elif tamper == "url":
        url += "/"
    elif tamper == "key":
        key = "other-key"
    else:
        header = None
    assert not signing.verify_push(key, url, body, header)
