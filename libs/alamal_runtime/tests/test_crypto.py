"""Keyrings and the key-encryption key from settings: no start without a usable key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from alamal_runtime.crypto import (
    DecryptError,
    Keyring,
    KeyringError,
    encode_key,
    ensure_keyring_file,
    new_key,
    open_bytes,
    parse_keyring,
    seal_bytes,
    write_keyring,
)
from alamal_runtime.sealing import keyring_from_settings
from alamal_runtime.settings import ServiceSettings


class _Settings(ServiceSettings):
    model_config = ServiceSettings.model_config | {"env_prefix": "INTAKE_"}


def _settings(**values: object) -> _Settings:
    return _Settings(
        store_url="sqlite://:memory:",
        kafka_bootstrap="127.0.0.1:1",
        token_public_key="unused",
        **values,  # type: ignore[arg-type]
    )


def test_sealed_bytes_open_only_with_the_same_key_and_context() -> None:
    key = new_key()
    sealed = seal_bytes(key, b"Fatima", b"families/f-1/members")
    assert b"Fatima" not in sealed
    assert open_bytes(key, sealed, b"families/f-1/members") == b"Fatima"
    with pytest.raises(DecryptError):
        open_bytes(key, sealed, b"families/f-2/members")
    with pytest.raises(DecryptError):
        open_bytes(new_key(), sealed, b"families/f-1/members")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptError):
        open_bytes(key, tampered, b"families/f-1/members")


def test_a_keyring_lists_the_primary_first_and_accepts_comments_and_commas() -> None:
    first, second = new_key(), new_key()
    ring = parse_keyring(
        f"# rotated 2026-12\n{encode_key(first)}\n{encode_key(second)}  # old\n", source="f"
    )
    assert ring.keys == (first, second)
    assert parse_keyring(f"{encode_key(first)},{encode_key(second)}", source="env").keys == (
        first,
        second,
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "holds no key"),
        ("# nothing but a comment\n", "holds no key"),
        ("not base64 at all!", "not urlsafe base64"),
        (encode_key(b"short"), "not 32"),
    ],
)
def test_an_unusable_keyring_is_refused_without_echoing_it(text: str, problem: str) -> None:
    with pytest.raises(KeyringError, match=problem) as refused:
        parse_keyring(text, source="INTAKE_KEK")
    assert "INTAKE_KEK" in str(refused.value)
    if text.strip() and not text.startswith("#"):
        assert text not in str(refused.value)


def test_the_same_key_twice_is_refused() -> None:
    key = new_key()
    with pytest.raises(KeyringError, match="twice"):
        Keyring((key, key))


def test_prod_without_a_kek_refuses_and_names_the_setting() -> None:
    with pytest.raises(KeyringError, match="INTAKE_KEK_FILE") as refused:
        keyring_from_settings(_settings(profile="prod"))
    assert "never stored unencrypted" in str(refused.value)


def test_prod_with_a_missing_kek_file_refuses(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="does not exist"):
        keyring_from_settings(_settings(profile="prod", kek_file=tmp_path / "missing"))


def test_dev_generates_a_private_keyring_in_the_data_folder_once(tmp_path: Path) -> None:
    first = keyring_from_settings(_settings(profile="dev", data_dir=tmp_path))
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert keyring_from_settings(_settings(profile="dev", data_dir=tmp_path)) == first


def test_dev_without_a_data_folder_or_key_refuses() -> None:
    with pytest.raises(KeyringError, match="INTAKE_DATA_DIR"):
        keyring_from_settings(_settings(profile="dev"))


def test_a_configured_kek_wins_over_the_dev_key(tmp_path: Path) -> None:
    ring = Keyring((new_key(), new_key()))
    path = tmp_path / "kek"
    write_keyring(path, ring)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keyring_from_settings(_settings(profile="dev", kek_file=path, data_dir=tmp_path)) == ring
    assert ensure_keyring_file(path) == ring  # an existing file is never replaced


def test_the_unsealed_benchmark_switch_is_refused_in_prod() -> None:
    with pytest.raises(ValidationError, match="BENCH_UNSEALED"):
        _settings(profile="prod", bench_unsealed=True)
    assert _settings(profile="dev", bench_unsealed=True).bench_unsealed
