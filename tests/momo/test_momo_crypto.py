"""The dataList cipher against the spec's vector, and its failure modes."""

from __future__ import annotations

import pytest

from platforms.momo.crypto import DataListError, decrypt_data_list, derive_key, encrypt_data_list

VECTOR_PLAIN = '[{"completeOrderNo":"20140918203512-001-001-001","syslast":"1"}]'
VECTOR_CIPHER = ("7/8HriH6LHF/O/YxhT+JALTem3h4L6Roana+R++uTNmo4xG8idqqzZUeRU24Vb0OxZCzJMRr1zDb9kgelyPhZVu97p4Lx"
                 "HJZWuQhtG9rLv8=")


def test_spec_vector_encrypts_and_decrypts():
    assert encrypt_data_list(VECTOR_PLAIN, "pass1234") == VECTOR_CIPHER
    assert decrypt_data_list(VECTOR_CIPHER, "pass1234") == VECTOR_PLAIN


@pytest.mark.parametrize(("password", "key"), [
    ("pass1234", b"pass123400000000"),
    ("", b"0000000000000000"),
    ("exactly16chars!!", b"exactly16chars!!"),
    ("longer-than-sixteen-characters", b"longer-than-sixt"),
])
def test_key_is_password_padded_with_zeros_or_cut(password, key):
    assert derive_key(password) == key


def test_traditional_chinese_round_trips():
    plain = '[{"receiver":"陳怡君","receiverAddr":"100臺北市中正區中山路1號"}]'
    assert decrypt_data_list(encrypt_data_list(plain, "pw"), "pw") == plain


@pytest.mark.parametrize("bad", [VECTOR_CIPHER[:-8], "not base64 at all!", VECTOR_CIPHER[:20]])
def test_truncated_or_corrupt_data_list_is_a_clear_error(bad):
    with pytest.raises(DataListError, match="cannot be decrypted"):
        decrypt_data_list(bad, "pass1234")


def test_wrong_password_does_not_decrypt_to_the_plaintext():
    try:
        assert decrypt_data_list(VECTOR_CIPHER, "other-pw") != VECTOR_PLAIN
    except DataListError:
        pass
