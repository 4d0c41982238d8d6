"""Keys and authenticated encryption (AES-256-GCM from `cryptography`): no hand-made cipher.

A *keyring* holds one or more 256-bit key-encryption keys (KEKs). The first wraps new keys; the
others are still accepted to unwrap, so a KEK is rotated without downtime: put the new key
first, re-wrap, then drop the old one. A key is named by its id, a fingerprint that reveals
nothing about it; messages and logs show ids only, never key material.

Keyring text: one urlsafe-base64 key per line (or comma separated in an environment variable);
`#` starts a comment.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class CryptoError(Exception):
    """Encryption or decryption refused (wrong key, tampered data, unusable keyring)."""


class KeyringError(CryptoError):
    """No usable key-encryption key: the service must not start."""


class DecryptError(CryptoError):
    """Ciphertext that does not open with the key and context given (wrong key or tampered)."""


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """A key as keyring text (urlsafe base64)."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def key_id(key: bytes) -> str:
    """A key's public name: a truncated SHA-256 of a labelled copy (reveals nothing usable)."""
    return hashlib.sha256(b"alamal-key-id\x00" + key).hexdigest()[:16]


def seal_bytes(key: bytes | AESGCM, plain: bytes, aad: bytes) -> bytes:
    """nonce || AES-GCM(plain) with `aad` bound to it: it opens only with the same context."""
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plain, aad)


def open_bytes(key: bytes | AESGCM, sealed: bytes, aad: bytes) -> bytes:
    """The plaintext of `seal_bytes`; DecryptError for a wrong key, context or tampered bytes."""
    aead = key if isinstance(key, AESGCM) else AESGCM(key)
    if len(sealed) < NONCE_BYTES + 16:
        raise DecryptError("ciphertext too short")
    try:
        return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptError("ciphertext does not open with this key and context") from None


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A key encrypted under a KEK, with the id of that KEK."""

    kek_id: str
    blob: str
    """urlsafe base64 of nonce || ciphertext || tag."""


@dataclass(frozen=True, slots=True)
class Keyring:
    """Key-encryption keys: `keys[0]` wraps, every key unwraps what it wrapped."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyringError("the keyring holds no key")
        for key in self.keys:
            if len(key) != KEY_BYTES:
                raise KeyringError(f"a key-encryption key must be {KEY_BYTES} bytes")
        if len({key_id(k) for k in self.keys}) != len(self.keys):
            raise KeyringError("the keyring holds the same key twice")

    @property
    def primary_id(self) -> str:
        """The id of the key that wraps new keys."""
        return key_id(self.keys[0])

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids of every key, primary first."""
        return tuple(key_id(k) for k in self.keys)

    def wrap(self, key: bytes, *, context: bytes) -> WrappedKey:
        """Encrypt `key` under the primary KEK, bound to `context` (what the key is for)."""
        sealed = seal_bytes(self.keys[0], key, context)
        return WrappedKey(self.primary_id, base64.urlsafe_b64encode(sealed).decode("ascii"))

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes:
        """The key inside `wrapped`; KeyringError if its KEK is not here, DecryptError if bad."""
        for kek in self.keys:
            if key_id(kek) == wrapped.kek_id:
                try:
                    blob = base64.urlsafe_b64decode(wrapped.blob)
                except (binascii.Error, ValueError):
                    raise DecryptError("a wrapped key is not valid base64") from None
                return open_bytes(kek, blob, context)
        raise KeyringError(
            f"a key is wrapped under key-encryption key {wrapped.kek_id}, which the keyring"
            f" does not hold (it holds {', '.join(self.ids)})"
        )

    def text(self) -> str:
        """The keyring as text for its file, primary first."""
        return "".join(f"{encode_key(k)}\n" for k in self.keys)


def parse_keyring(text: str, *, source: str) -> Keyring:
    """Parse keyring text; KeyringError names `source` (never the key) when it is unusable."""
    keys: list[bytes] = []
    for raw in _entries(text):
        try:
            padded = raw + "=" * (-len(raw) % 4)
            key = base64.b64decode(padded, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"{source}: a key is not urlsafe base64") from None
        if len(key) != KEY_BYTES:
            raise KeyringError(f"{source}: a key is {len(key)} bytes, not {KEY_BYTES}")
        keys.append(key)
    if not keys:
        raise KeyringError(f"{source} holds no key")
    return Keyring(tuple(keys))


def _entries(text: str) -> Iterable[str]:
    for line in text.splitlines():
        content = line.split("#", 1)[0]
        yield from (part.strip() for part in content.split(",") if part.strip())


def read_keyring(path: Path, *, source: str) -> Keyring:
    """Read a keyring file; KeyringError if it is missing or unusable."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyringError(f"{source}: {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyringError(f"{source}: {path} cannot be read ({type(exc).__name__})") from None
    return parse_keyring(text, source=source)


def write_keyring(path: Path, keyring: Keyring) -> None:
    """Replace a keyring file atomically, readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(keyring.text())
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_keyring_file(path: Path) -> Keyring:
    """The keyring in `path`, created with one new key (mode 0600) if the file does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a name of its own, then linked into place: two processes starting
        # at once (replicas) never overwrite each other's key nor read a half-written file.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(Keyring((new_key(),)).text())
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    return read_keyring(path, source=str(path))
