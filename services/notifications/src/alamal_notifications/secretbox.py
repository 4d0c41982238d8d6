"""Secrets: endpoint signing secrets (encrypted at rest) and partner credentials (hashed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from alamal_notifications.settings import NotificationsSettings

WEBHOOK_SECRET_BYTES = 32
KEY_FILE_NAME = "secrets.key"
CLIENT_ID_PREFIX = "pc_"
REFERENCE_KEY_INFO = b"alamal notifications: per-partner family reference v1"


class SecretsKeyError(Exception):
    """No usable key to encrypt endpoint secrets."""


class SecretBox:
    """Encrypts endpoint secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256, authenticated), and
    derives the per-partner family references from the same key (HKDF: a separate subkey)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._reference_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=REFERENCE_KEY_INFO
        ).derive(base64.urlsafe_b64decode(key))

    def family_reference(self, partner_id: str, family_id: str) -> str:
        """A pseudonym of the family for one partner: the same for every referral of that family
        to that partner, different for every other partner, and not reversible to the family id.
        Shown only with the details (consent or Meldcode), so a partner without them cannot
        link two referrals of one family."""
        mac = hmac.new(
            self._reference_key, f"{partner_id}\n{family_id}".encode(), hashlib.sha256
        ).digest()
        return "fam_" + base64.b32encode(mac[:15]).decode("ascii").lower()

    def seal(self, plain: str) -> str:
        """Encrypt a secret for storage."""
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        """Decrypt a stored secret; SecretsKeyError if the key does not fit."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretsKeyError(
                "stored secret does not decrypt with the configured key"
            ) from None


def load_secret_box(settings: NotificationsSettings) -> SecretBox:
    """The configured key; in dev/test without one, a key generated in the data folder (0600)."""
    if settings.secrets_key is not None:
        return SecretBox(settings.secrets_key.get_secret_value().encode("ascii"))
    if settings.secrets_key_file is not None:
        return SecretBox(settings.secrets_key_file.read_bytes().strip())
    if settings.profile == "prod":
        raise SecretsKeyError("prod needs SECRETS_KEY or SECRETS_KEY_FILE")
    if settings.data_dir is None:
        raise SecretsKeyError("set SECRETS_KEY, SECRETS_KEY_FILE or DATA_DIR")
    return SecretBox(_dev_key(settings.data_dir / KEY_FILE_NAME))


def _dev_key(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL: two processes starting at once never overwrite each other's key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode("ascii")


def new_client_id() -> str:
    """A partner credential's public id."""
    return CLIENT_ID_PREFIX + secrets.token_hex(12)


def new_client_secret() -> str:
    """A partner credential's secret: 256 random bits, so a plain SHA-256 hash is enough."""
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    """The stored form of a client secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def client_secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret with the stored hash."""
    return hmac.compare_digest(hash_client_secret(secret), stored_hash)
