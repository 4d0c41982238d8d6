"""Dev token keys: made once, reused, private key readable by the owner only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from alamal_stack.keys import ensure_token_keys


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generates_an_ed25519_pair_with_a_private_signing_key(tmp_path: Path) -> None:
    keys = ensure_token_keys(tmp_path)
    assert keys.signing == tmp_path / "keys" / "token-signing.pem"
    assert keys.verify == tmp_path / "keys" / "token-verify.pem"
    assert _mode(keys.signing) == 0o600
    assert keys.signing.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert keys.verify.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    private = serialization.load_pem_private_key(keys.signing.read_bytes(), password=None)
    public = serialization.load_pem_public_key(keys.verify.read_bytes())
    assert isinstance(private, Ed25519PrivateKey)
    assert isinstance(public, Ed25519PublicKey)
    public.verify(private.sign(b"token"), b"token")  # raises if the pair does not match


def test_is_idempotent(tmp_path: Path) -> None:
    first = ensure_token_keys(tmp_path)
    signing, verify = first.signing.read_bytes(), first.verify.read_bytes()
    second = ensure_token_keys(tmp_path)
    assert second == first
    assert second.signing.read_bytes() == signing
    assert second.verify.read_bytes() == verify
    assert _mode(second.signing) == 0o600


def test_restores_a_lost_verify_key_and_tightens_a_loose_signing_key(tmp_path: Path) -> None:
    keys = ensure_token_keys(tmp_path)
    verify = keys.verify.read_bytes()
    keys.verify.unlink()
    keys.signing.chmod(0o644)
    ensure_token_keys(tmp_path)
    assert keys.verify.read_bytes() == verify
    assert _mode(keys.signing) == 0o600


def test_refuses_a_signing_key_of_another_type(tmp_path: Path) -> None:
    keys = ensure_token_keys(tmp_path)
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    keys.signing.write_bytes(other)
    with pytest.raises(ValueError, match="not an Ed25519"):
        ensure_token_keys(tmp_path)
