"""The signed service token (DESIGN decision 8): the gateway mints it, every service verifies it.

Ed25519 (EdDSA) signatures: services hold only the public key, so a compromised service cannot
mint tokens. Tokens are short-lived and name the user, role and scope (wijken).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum

import jwt

ALGORITHM = "EdDSA"
DEFAULT_TTL_SECONDS = 300
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ALL_SERVICES_AUDIENCE = ("intake", "cases", "notifications", "reporting")


class Role(StrEnum):
    """Staff roles (DESIGN.md, Roles)."""

    TRUSTED_PERSON = "trusted_person"
    COORDINATOR = "coordinator"
    ADMIN = "admin"
    OPERATOR = "operator"
    FUNDER = "funder"
    PRIVACY_OFFICER = "privacy_officer"
    """Handles a family's AVG requests (export, erasure with a second person's approval) and
    sees the deletion log; no casework otherwise."""


class InvalidTokenError(Exception):
    """The token is missing, malformed, expired, for another audience or wrongly signed."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a staff user with one role and the wijken in scope."""

    user_id: str
    role: Role
    wijken: frozenset[str]
    token_id: str


class TokenVerifier:
    """Verifies service tokens for one audience (the service's name)."""

    def __init__(self, public_key_pem: str, *, audience: str, issuer: str) -> None:
        self._key = public_key_pem
        self._audience = audience
        self._issuer = issuer

    def verify(self, token: str) -> Principal:
        """Return the principal of a valid token; InvalidTokenError otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss", "jti"]},
                leeway=5,
            )
            role = Role(claims["role"])
            wijken = claims.get("wijken", [])
            if not isinstance(wijken, list) or not all(isinstance(w, str) for w in wijken):
                raise InvalidTokenError("wijken claim must be a list of strings")
            if not isinstance(claims["sub"], str) or not _CANONICAL_UUID.fullmatch(claims["sub"]):
                # User ids travel in events as entity ids: one spelling only, never a username.
                raise InvalidTokenError("sub claim must be a lowercase UUID")
            return Principal(
                user_id=str(claims["sub"]),
                role=role,
                wijken=frozenset(wijken),
                token_id=str(claims["jti"]),
            )
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise InvalidTokenError(type(exc).__name__) from exc


def mint_token(
    private_key_pem: str,
    *,
    user_id: str,
    role: Role,
    wijken: frozenset[str] | set[str] | list[str] = frozenset(),
    audience: str | tuple[str, ...] = ALL_SERVICES_AUDIENCE,
    issuer: str = "alamal-gateway",
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    now: float | None = None,
) -> str:
    """Sign a short-lived service token (used by the gateway, the dev helper and tests)."""
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": user_id,
        "role": role.value,
        "wijken": sorted(wijken),
        "aud": list(audience) if isinstance(audience, tuple) else audience,
        "iss": issuer,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, private_key_pem, algorithm=ALGORITHM)


def generate_keypair() -> tuple[str, str]:
    """A new Ed25519 key pair as (private PKCS8 PEM, public SubjectPublicKeyInfo PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private, public
