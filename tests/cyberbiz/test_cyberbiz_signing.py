"""Cyberbiz V1 signing: the spec's [V] vectors, the exact header shape, and fresh dates per request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from platforms.cyberbiz.signing import (
    HmacAuth,
    authorization_header,
    http_date,
    parse_authorization,
    parse_http_date,
    signature,
    signing_string,
)

X_DATE = "Tue, 10 Oct 2017 00:00:00 GMT"


@pytest.mark.parametrize(("request_line", "expected"), [
    ("/v1/orders", "N79KPBRLSvnyhRCEodB58rnpx2A/g3nZB24+ZfPbyII="),
    ("/v1/orders?page=1&per_page=50&offset=0", "yecLR8/BOLhye6KK6WUoxJ1dQdHsGdkjgHYrdk9GRDs="),
])
def test_cyberbiz_spec_vectors(request_line, expected):
    message = signing_string(X_DATE, "get", request_line)
    assert message == f"x-date: {X_DATE}\nGET {request_line} HTTP/1.1"
    assert signature("apidemo", message) == expected


def test_cyberbiz_query_changes_the_signature():
    plain = signature("apidemo", signing_string(X_DATE, "GET", "/v1/orders"))
    with_query = signature("apidemo", signing_string(X_DATE, "GET", "/v1/orders?page=2"))
    assert plain != with_query


def test_cyberbiz_http_date_is_rfc1123_gmt_and_round_trips():
    when = datetime(2017, 10, 10, 8, 0, 0, 999, tzinfo=UTC) - timedelta(hours=8)
    assert http_date(when) == X_DATE
    assert parse_http_date(X_DATE) == datetime(2017, 10, 10, tzinfo=UTC)
    assert parse_http_date("yesterday") is None
    with pytest.raises(ValueError, match="aware"):
        http_date(datetime(2017, 10, 10))


def test_cyberbiz_authorization_header_is_kongs_exact_form():
    header = authorization_header("apidemo", "abc=")
    assert header == ('hmac username="apidemo", algorithm="hmac-sha256", headers="x-date request-line", '
                      'signature="abc="')
    assert parse_authorization(header) == {"username": "apidemo", "algorithm": "hmac-sha256",
                                           "headers": "x-date request-line", "signature": "abc="}
    assert parse_authorization("Bearer xyz") is None
    assert parse_authorization('hmac algorithm="hmac-sha256"') is None


def test_cyberbiz_hmac_auth_signs_with_the_clock_and_hides_the_secret():
    now = [datetime(2017, 10, 10, tzinfo=UTC)]
    auth = HmacAuth("apidemo", "apidemo", lambda: now[0])
    headers = auth.headers("GET", "/v1/orders?page=1&per_page=50&offset=0")
    assert headers["X-Date"] == X_DATE
    assert headers["Accept"] == "application/json"
    assert headers["Authorization"].endswith('signature="yecLR8/BOLhye6KK6WUoxJ1dQdHsGdkjgHYrdk9GRDs="')
    now[0] += timedelta(seconds=1)
    assert auth.headers("GET", "/v1/orders")["X-Date"] == "Tue, 10 Oct 2017 00:00:01 GMT"
    assert "apidemo'" not in repr(auth).split("secret=")[1]


def test_cyberbiz_body_digest_is_signed_when_asked():
    from platforms.cyberbiz.signing import body_digest

    body = b'{"tracking_number": "T1"}'
    assert body_digest(b"") == "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    auth = HmacAuth("apidemo", "apidemo", lambda: datetime(2017, 10, 10, tzinfo=UTC), sign_digest=True)
    headers = auth.headers("POST", "/v1/orders/1/fulfillments/custom_shipping", body)
    assert headers["Digest"] == body_digest(body)
    assert 'headers="x-date request-line digest"' in headers["Authorization"]
    expected = signature("apidemo", f"x-date: {X_DATE}\nPOST /v1/orders/1/fulfillments/custom_shipping HTTP/1.1\n"
                                    f"digest: {body_digest(body)}")
    assert f'signature="{expected}"' in headers["Authorization"]
    assert "Digest" not in auth.headers("GET", "/v1/orders")  # no body, nothing to digest
