"""Keys for visits saved on a device without a connection.

The private part of a queued visit (the note and the strength seen) is sealed on the device
with AES-256-GCM under a key the gateway hands to the page once per session. The page imports
it into WebCrypto as a non-extractable key usable for *encryption only* and keeps that CryptoKey
in IndexedDB next to the session's key id; JavaScript on the device can seal with it but never
read a sealed note back, and the key is deleted at logout and on the login page.

The gateway can re-derive the key from its own secret, the user's id and the key id, so a
queue whose session expired while offline is still opened after the same user logs in again;
for any other user the derived key differs and the seal does not open. The associated data
binds a seal to its visit's idempotency key and case, so it cannot be moved to another visit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ID_PATTERN: Final = r"^[0-9a-f]{32}$"
IV_BYTES: Final = 12


class SealError(Exception):
    """A sealed part that does not open (another user's, another visit's, or damaged)."""


def b64url(data: bytes) -> str:
    """Unpadded base64url, as the page's script writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(text: str) -> bytes:
    """Bytes of unpadded base64url text (SealError when it is not)."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise SealError("not base64url") from None


def associated_data(idempotency_key: str, case_id: str) -> bytes:
    """What a seal is bound to: its visit's key and case."""
    return f"alamal-visit|{idempotency_key}|{case_id}".encode()


class OfflineKeys:
    """Derives the per-session device keys and opens what the devices sealed."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def from_signing_key(cls, signing_key_pem: str) -> OfflineKeys:
        """Derived from the gateway's signing key: stable across restarts, never stored."""
        return cls(hashlib.sha256(b"offline-visits:" + signing_key_pem.encode()).digest())

    def _mac(self, *parts: str) -> bytes:
        return hmac.new(self._secret, "|".join(parts).encode(), hashlib.sha256).digest()

    def owner(self, user_id: str) -> str:
        """The tag a device files a user's queue under (not the user id itself)."""
        return self._mac("owner", user_id).hex()[:32]

    def key_id(self, session_key: str) -> str:
        """The key id of a session (from the hash of its cookie, which the store keeps)."""
        return self._mac("key-id", session_key).hex()[:32]

    def key(self, user_id: str, key_id: str) -> bytes:
        """The 256-bit device key of one user's session."""
        return self._mac("key", user_id, key_id)

    def open(
        self, user_id: str, key_id: str, *, iv: str, data: str, idempotency_key: str, case_id: str
    ) -> bytes:
        """The plaintext of a seal made with this user's key for this visit, or SealError."""
        nonce, sealed = from_b64url(iv), from_b64url(data)
        if len(nonce) != IV_BYTES:
            raise SealError("bad iv")
        try:
            return AESGCM(self.key(user_id, key_id)).decrypt(
                nonce, sealed, associated_data(idempotency_key, case_id)
            )
        except InvalidTag:
            raise SealError("the seal does not open for this user and visit") from None
