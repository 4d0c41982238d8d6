"""Settings and the key that encrypts endpoint secrets at rest."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from alamal_notifications.secretbox import (
    SecretsKeyError,
    client_secret_matches,
    hash_client_secret,
    load_secret_box,
    new_client_secret,
)
from alamal_notifications.settings import NotificationsSettings

BASE: dict[str, Any] = {
    "store_url": "sqlite:///:memory:",
    "kafka_bootstrap": "127.0.0.1:9092",
    "token_public_key": "unused",
}


def test_prod_refuses_to_start_without_a_key_or_with_an_http_base_url() -> None:
    with pytest.raises(ValidationError, match="SECRETS_KEY"):
        NotificationsSettings(**BASE, profile="prod", public_base_url="https://x.org")
    with pytest.raises(ValidationError, match="https"):
        NotificationsSettings(**BASE, profile="prod", secrets_key=Fernet.generate_key().decode())


def test_dev_generates_a_private_key_file_once(tmp_path: Path) -> None:
    settings = NotificationsSettings(**BASE, profile="dev", data_dir=tmp_path)
    box = load_secret_box(settings)
    key_file = tmp_path / "secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    sealed = box.seal("whsec_abc")
    assert "whsec_abc" not in sealed
    assert load_secret_box(settings).open(sealed) == "whsec_abc"


def test_a_wrong_key_is_detected(tmp_path: Path) -> None:
    sealed = load_secret_box(NotificationsSettings(**BASE, profile="dev", data_dir=tmp_path)).seal(
        "whsec_abc"
    )
    other = NotificationsSettings(**BASE, profile="dev", secrets_key=Fernet.generate_key().decode())
    with pytest.raises(SecretsKeyError):
        load_secret_box(other).open(sealed)


def test_no_key_and_no_folder_is_an_error() -> None:
    with pytest.raises(SecretsKeyError):
        load_secret_box(NotificationsSettings(**BASE, profile="test"))


def test_bad_allow_list_and_schedule_are_refused() -> None:
    with pytest.raises(ValidationError):
        NotificationsSettings(**BASE, allowed_cidrs=("not-a-network",), profile="test")
    with pytest.raises(ValidationError):
        NotificationsSettings(**BASE, retry_schedule_seconds=(1.0, -1.0), profile="test")


def test_client_secrets_are_kept_as_hashes() -> None:
    secret = new_client_secret()
    stored = hash_client_secret(secret)
    assert secret not in stored
    assert client_secret_matches(secret, stored)
    assert not client_secret_matches(secret + "x", stored)
