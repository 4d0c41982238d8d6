"""Dev token keys: an Ed25519 pair in `<data>/keys/`, made once and reused across restarts.

The signing key stands in for the gateway's (`python -m alamal_runtime.devtoken` mints with
it); services get only the verification key. These files never belong in the repository.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNING_KEY_FILE = "token-signing.pem"
VERIFY_KEY_FILE = "token-verify.pem"


@dataclass(frozen=True, slots=True)
class TokenKeys:
    """Paths of the dev token key pair."""

    signing: Path
    verify: Path


def keys_dir(data_dir: Path) -> Path:
    """The folder holding the dev keys."""
    return data_dir / "keys"


def ensure_token_keys(data_dir: Path) -> TokenKeys:
    """Create the Ed25519 pair under `<data>/keys/` unless present; return its paths."""
    folder = keys_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    keys = TokenKeys(signing=folder / SIGNING_KEY_FILE, verify=folder / VERIFY_KEY_FILE)
    if keys.signing.exists():
        keys.signing.chmod(0o600)
        private = serialization.load_pem_private_key(keys.signing.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{keys.signing} is not an Ed25519 private key")
    else:
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_atomically(keys.signing, pem, mode=0o600)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Re-derived every time, so the verify key can never drift from the signing key.
    if not keys.verify.exists() or keys.verify.read_bytes() != public_pem:
        _write_atomically(keys.verify, public_pem, mode=0o644)
    return keys


def _write_atomically(path: Path, data: bytes, *, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Created with its final mode: the private key is never readable by others, not even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)  # the umask may have narrowed it
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
