"""Settings precedence and the vault: rotation, wrong key, missing key, masking."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from oms_bridge.settings import Settings, SettingsError, load_settings
from oms_bridge.vault import DecryptionFailed, KeyMissing, Vault, VaultError, create_key_file, generate_key, mask


def test_settings_precedence_defaults_file_env(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    env = {"OMS_BRIDGE_HOME": str(home)}
    defaults = load_settings(env)
    assert defaults.getorder_overlap_minutes == 10
    assert defaults.effective_database_url == f"sqlite:///{home / 'oms-bridge.db'}"

    (home / "config.toml").write_text(
        '[oms_bridge]\ngetorder_overlap_minutes = 20\nhttp_port = 9000\ndatabase_url = "postgresql://db/x"\n'
        'custom_thing = "kept"\n', encoding="utf-8")
    from_file = load_settings(env)
    assert (from_file.getorder_overlap_minutes, from_file.http_port) == (20, 9000)
    assert from_file.effective_database_url == "postgresql+psycopg://db/x"
    assert from_file.extra == {"custom_thing": "kept"}
    assert from_file.config_file == home / "config.toml"

    from_env = load_settings({**env, "OMS_BRIDGE_GETORDER_OVERLAP_MINUTES": "30"})
    assert (from_env.getorder_overlap_minutes, from_env.http_port) == (30, 9000)


def test_settings_config_file_elsewhere_and_bad_values(tmp_path: Path) -> None:
    cfg = tmp_path / "other.toml"
    cfg.write_text("log_level = 'DEBUG'\n", encoding="utf-8")
    assert load_settings({"OMS_BRIDGE_HOME": str(tmp_path), "OMS_BRIDGE_CONFIG": str(cfg)}).log_level == "DEBUG"
    with pytest.raises(SettingsError, match="getorder_overlap_minutes.*'ten'"):
        load_settings({"OMS_BRIDGE_HOME": str(tmp_path), "OMS_BRIDGE_GETORDER_OVERLAP_MINUTES": "ten"})
    cfg.write_text("this is = = not toml", encoding="utf-8")
    with pytest.raises(SettingsError, match="cannot read config file"):
        load_settings({"OMS_BRIDGE_HOME": str(tmp_path), "OMS_BRIDGE_CONFIG": str(cfg)})


def test_vault_rotation_with_multifernet() -> None:
    old, new = generate_key(), generate_key()
    token = Vault([old]).encrypt("partner-key-1234567890")
    both = Vault([new, old])
    assert both.decrypt(token) == "partner-key-1234567890"
    rotated = both.rotate(token)
    assert Vault([new]).decrypt(rotated) == "partner-key-1234567890"
    with pytest.raises(DecryptionFailed):
        Vault([old]).decrypt(rotated)
    # A token is a real Fernet token under the newest key, not a reversible encoding.
    assert Fernet(new.encode()).decrypt(rotated.encode()) == b"partner-key-1234567890"


def test_wrong_key_names_the_owner() -> None:
    token = Vault([generate_key()]).encrypt("s3cret-value-abcdef")
    with pytest.raises(DecryptionFailed, match="channel 'shop-a' access token"):
        Vault([generate_key()]).decrypt(token, what="channel 'shop-a' access token")


def test_missing_and_invalid_keys(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with pytest.raises(KeyMissing, match="oms-bridge init"):
        Vault.from_settings(settings)
    with pytest.raises(VaultError, match="invalid encryption key"):
        Vault(["not-a-key"])
    assert create_key_file(settings.key_file) is True
    assert create_key_file(settings.key_file) is False
    assert settings.key_file.stat().st_mode & 0o777 == 0o600
    assert Vault.from_settings(settings).decrypt(Vault.from_settings(settings).encrypt("x" * 20)) == "x" * 20


def test_mask_never_reveals_short_secrets_or_length() -> None:
    assert mask("abc") == "****"
    assert mask("abcdefghijklmnop") == "****mnop"
    assert mask("") == "" and mask(None) == ""
