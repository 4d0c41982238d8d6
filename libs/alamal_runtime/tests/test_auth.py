"""The signed service token (DESIGN decision 8): what verifies, and everything that must not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from alamal_runtime import devtoken
from alamal_runtime.auth import (
    ALGORITHM,
    InvalidTokenError,
    Principal,
    Role,
    TokenVerifier,
    generate_keypair,
    mint_token,
)

type Mint = Callable[..., str]

AUDIENCE = "cases"
ISSUER = "alamal-gateway"

USER = "0b6d2a7e-4c1f-4a8e-9d3b-5f2e1c7a9b40"


@pytest.fixture
def verifier(token_keys: tuple[str, str]) -> TokenVerifier:
    _, public = token_keys
    return TokenVerifier(public, audience=AUDIENCE, issuer=ISSUER)


def claims(**overrides: Any) -> dict[str, Any]:
    """A complete, valid claim set; `None` removes a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": USER,
        "role": Role.COORDINATOR.value,
        "wijken": ["overvecht"],
        "aud": [AUDIENCE],
        "iss": ISSUER,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hand_made(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A token built by hand, as an attacker would, without a library refusing to sign it."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(signature)}"


def test_a_minted_token_verifies_to_its_principal(verifier: TokenVerifier, mint: Mint) -> None:
    token = mint(user_id=USER, role=Role.TRUSTED_PERSON, wijken={"zuid", "west"})

    principal = verifier.verify(token)

    assert principal.user_id == USER
    assert principal.role is Role.TRUSTED_PERSON
    assert principal.wijken == frozenset({"zuid", "west"})
    assert principal.token_id
    assert isinstance(principal, Principal)


def test_each_service_of_the_default_audience_accepts_the_token(
    token_keys: tuple[str, str], mint: Mint
) -> None:
    _, public = token_keys
    token = mint(user_id=USER, role=Role.ADMIN)
    for service in ("intake", "cases", "notifications", "reporting"):
        assert (
            TokenVerifier(public, audience=service, issuer=ISSUER).verify(token).role is Role.ADMIN
        )


def test_every_token_has_its_own_id(verifier: TokenVerifier, mint: Mint) -> None:
    first = verifier.verify(mint(user_id=USER, role=Role.OPERATOR))
    second = verifier.verify(mint(user_id=USER, role=Role.OPERATOR))
    assert first.token_id != second.token_id


def test_an_expired_token_is_refused(verifier: TokenVerifier, token_keys: tuple[str, str]) -> None:
    private, _ = token_keys
    # Expired a minute ago: beyond the 5 s leeway for clock skew.
    token = mint_token(
        private, user_id=USER, role=Role.COORDINATOR, now=time.time() - 360, ttl_seconds=300
    )
    with pytest.raises(InvalidTokenError, match="ExpiredSignatureError"):
        verifier.verify(token)


def test_a_token_issued_in_the_future_is_refused(
    verifier: TokenVerifier, token_keys: tuple[str, str]
) -> None:
    private, _ = token_keys
    token = mint_token(private, user_id=USER, role=Role.COORDINATOR, now=time.time() + 600)
    with pytest.raises(InvalidTokenError):
        verifier.verify(token)


def test_a_token_for_another_service_is_refused(
    verifier: TokenVerifier, token_keys: tuple[str, str]
) -> None:
    private, _ = token_keys
    token = mint_token(private, user_id=USER, role=Role.COORDINATOR, audience="reporting")
    with pytest.raises(InvalidTokenError, match="InvalidAudienceError"):
        verifier.verify(token)


def test_a_token_from_another_issuer_is_refused(
    verifier: TokenVerifier, token_keys: tuple[str, str]
) -> None:
    private, _ = token_keys
    token = mint_token(private, user_id=USER, role=Role.COORDINATOR, issuer="someone-else")
    with pytest.raises(InvalidTokenError, match="InvalidIssuerError"):
        verifier.verify(token)


def test_a_token_signed_by_another_key_is_refused(verifier: TokenVerifier) -> None:
    other_private, _ = generate_keypair()
    token = mint_token(other_private, user_id=USER, role=Role.ADMIN)
    with pytest.raises(InvalidTokenError, match="InvalidSignatureError"):
        verifier.verify(token)


def test_an_unsigned_token_is_refused(verifier: TokenVerifier) -> None:
    for alg in ("none", "None", "NONE"):
        with pytest.raises(InvalidTokenError):
            verifier.verify(hand_made({"alg": alg, "typ": "JWT"}, claims()))


def test_hs256_signed_with_the_public_key_is_refused(
    verifier: TokenVerifier, token_keys: tuple[str, str]
) -> None:
    # Algorithm confusion: an attacker who knows the public key signs with it as an HMAC secret.
    _, public = token_keys
    header = {"alg": "HS256", "typ": "JWT"}
    payload = claims(role=Role.ADMIN.value)
    unsigned = hand_made(header, payload).rsplit(".", 1)[0]
    signature = hmac.new(public.encode(), unsigned.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidTokenError, match="InvalidAlgorithmError"):
        verifier.verify(f"{unsigned}.{b64url(signature)}")


def test_a_valid_signature_over_a_tampered_payload_is_refused(
    verifier: TokenVerifier, mint: Mint
) -> None:
    header, _, signature = mint(user_id=USER, role=Role.TRUSTED_PERSON).split(".")
    tampered = b64url(json.dumps(claims(role=Role.ADMIN.value)).encode())
    with pytest.raises(InvalidTokenError):
        verifier.verify(f"{header}.{tampered}.{signature}")


@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b.c", "....", "Bearer x", "eyJhbGciOiJFZERTQSJ9.e30."]
)
def test_garbage_is_refused(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(InvalidTokenError):
        verifier.verify(token)


@pytest.mark.parametrize("missing", ["sub", "role", "aud", "iss", "iat", "exp", "jti"])
def test_a_token_missing_a_claim_is_refused(
    verifier: TokenVerifier, token_keys: tuple[str, str], missing: str
) -> None:
    private, _ = token_keys
    token = jwt.encode(claims(**{missing: None}), private, algorithm=ALGORITHM)
    with pytest.raises(InvalidTokenError):
        verifier.verify(token)


def test_a_token_without_wijken_has_an_empty_scope(
    verifier: TokenVerifier, token_keys: tuple[str, str]
) -> None:
    private, _ = token_keys
    token = jwt.encode(claims(wijken=None), private, algorithm=ALGORITHM)
    assert verifier.verify(token).wijken == frozenset()


@pytest.mark.parametrize("role", ["superuser", "", "COORDINATOR", 3, ["admin"], {"r": "admin"}])
def test_an_unknown_role_is_refused(
    verifier: TokenVerifier, token_keys: tuple[str, str], role: object
) -> None:
    private, _ = token_keys
    token = jwt.encode(claims(role=role), private, algorithm=ALGORITHM)
    with pytest.raises(InvalidTokenError):
        verifier.verify(token)


@pytest.mark.parametrize("wijken", ["overvecht", {"w": "overvecht"}, [1, 2], ["zuid", None], 7])
def test_wijken_must_be_a_list_of_strings(
    verifier: TokenVerifier, token_keys: tuple[str, str], wijken: object
) -> None:
    private, _ = token_keys
    token = jwt.encode(claims(wijken=wijken), private, algorithm=ALGORITHM)
    with pytest.raises(InvalidTokenError):
        verifier.verify(token)


@pytest.mark.parametrize("sub", [123, [USER]])
def test_a_subject_that_is_not_a_string_is_refused(
    verifier: TokenVerifier, token_keys: tuple[str, str], sub: object
) -> None:
    private, _ = token_keys
    token = jwt.encode(claims(sub=sub), private, algorithm=ALGORITHM)
    with pytest.raises(InvalidTokenError):
        verifier.verify(token)


# --- the dev helper ----------------------------------------------------------------------------


def test_devtoken_prints_a_token_the_services_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = generate_keypair()
    key = tmp_path / "keys" / "token-signing.pem"
    key.parent.mkdir()
    key.write_text(private, encoding="ascii")
    user = str(uuid.uuid4())

    code = devtoken.main(
        [
            *("--key", str(key), "--role", "trusted_person", "--user", user),
            *("--wijk", "zuid", "--wijk", "west", "--ttl", "120"),
        ]
    )

    assert code == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    token = out.strip()
    principal = TokenVerifier(public, audience="intake", issuer=ISSUER).verify(token)
    assert principal == Principal(
        user_id=user,
        role=Role.TRUSTED_PERSON,
        wijken=frozenset({"zuid", "west"}),
        token_id=principal.token_id,
    )
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == 120


def test_devtoken_defaults_to_a_random_coordinator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = generate_keypair()
    key = tmp_path / "token-signing.pem"
    key.write_text(private, encoding="ascii")

    assert devtoken.main(["--key", str(key)]) == 0

    principal = TokenVerifier(public, audience="cases", issuer=ISSUER).verify(
        capsys.readouterr().out.strip()
    )
    assert principal.role is Role.COORDINATOR
    assert uuid.UUID(principal.user_id)
    assert principal.wijken == frozenset()


def test_devtoken_without_a_key_file_exits_with_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        devtoken.main(["--key", str(tmp_path / "missing.pem")])
    assert exited.value.code == 2
    assert "no signing key" in capsys.readouterr().err


def test_devtoken_refuses_an_unknown_role(tmp_path: Path) -> None:
    key = tmp_path / "token-signing.pem"
    key.write_text(generate_keypair()[0], encoding="ascii")
    with pytest.raises(SystemExit):
        devtoken.main(["--key", str(key), "--role", "superuser"])


@pytest.mark.parametrize("subject", ["user-7", "0B6D2A7E-4C1F-4A8E-9D3B-5F2E1C7A9B40", "fatima"])
def test_a_subject_that_is_not_a_lowercase_uuid_is_refused(
    verifier: TokenVerifier, mint: Mint, subject: str
) -> None:
    with pytest.raises(InvalidTokenError):
        verifier.verify(mint(user_id=subject, role=Role.TRUSTED_PERSON))
