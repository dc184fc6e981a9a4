"""Staff password hashes: PBKDF2-HMAC-SHA256 with a random salt.

A hash reads ``pbkdf2_sha256.<iterations>.<salt>.<digest>`` (salt and digest
base64url without padding), so it can sit in an environment variable, a
shell line or a compose file without quoting: no ``$``, ``:`` or ``,``.
Checking is constant-time, and an unknown user costs as much as a known one.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Mapping, NamedTuple, Optional

ALGORITHM = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
MIN_ITERATIONS = 1_000
SALT_BYTES = 16
DIGEST_BYTES = 32
MAX_PASSWORD_BYTES = 1024  # longer input is refused before hashing (no CPU exhaustion)


class PasswordHashError(ValueError):
    """A stored hash is not in the expected format."""


class ParsedHash(NamedTuple):
    iterations: int
    salt: bytes
    digest: bytes


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, DIGEST_BYTES)


def hash_password(password: str, iterations: int = DEFAULT_ITERATIONS, salt: Optional[bytes] = None) -> str:
    if not password:
        raise ValueError("the password is empty")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValueError(f"the password is longer than {MAX_PASSWORD_BYTES} bytes")
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"at least {MIN_ITERATIONS} iterations")
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    return ".".join((ALGORITHM, str(iterations), _b64encode(salt), _b64encode(_derive(password, salt, iterations))))


def parse_hash(encoded: str) -> ParsedHash:
    parts = encoded.split(".")
    if len(parts) != 4 or parts[0] != ALGORITHM:
        raise PasswordHashError(f"expected {ALGORITHM}.<iterations>.<salt>.<digest>")
    if not parts[1].isdigit() or int(parts[1]) < MIN_ITERATIONS:
        raise PasswordHashError(f"iterations must be a number of at least {MIN_ITERATIONS}")
    try:
        salt, digest = _b64decode(parts[2]), _b64decode(parts[3])
    except (ValueError, TypeError):
        raise PasswordHashError("salt and digest must be base64url") from None
    if not salt or len(digest) != DIGEST_BYTES:
        raise PasswordHashError(f"the digest must be {DIGEST_BYTES} bytes")
    return ParsedHash(int(parts[1]), salt, digest)


def verify_password(password: str, encoded: str) -> bool:
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return False
    parsed = parse_hash(encoded)
    return hmac.compare_digest(_derive(password, parsed.salt, parsed.iterations), parsed.digest)


class PasswordChecker:
    """Checks a user's password against the configured hashes."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = dict(users)
        # an unknown name is checked against this, so it takes as long as a known one
        iterations = max((parse_hash(h).iterations for h in self._users.values()), default=DEFAULT_ITERATIONS)
        self._decoy = hash_password(secrets.token_urlsafe(16), iterations)

    def knows(self, user: str) -> bool:
        return user in self._users

    def check(self, user: str, password: str) -> bool:
        encoded = self._users.get(user)
        matches = verify_password(password, encoded or self._decoy)
        return matches and encoded is not None
