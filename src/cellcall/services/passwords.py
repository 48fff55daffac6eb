"""Password hashing (argon2id) and the password policy (NIST SP 800-63B)."""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.resources import data_file

# argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile.
HASHER = PasswordHasher()

# A hash of a random secret, verified against when the login is unknown so that an
# unknown login costs the same time as a wrong password.
DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))

MAX_LENGTH = 128


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower-cased), one per line."""
    path = data_file("common-passwords.txt")
    with path.open(encoding="utf-8") as fh:
        return frozenset(line.strip().lower() for line in fh if line.strip())


def check_policy(password: str, *, login: str = "", min_length: int = 8) -> None:
    """Refuse a password that is too short, too long, common, or the login itself."""
    if len(password) < min_length:
        raise ValidationError(
            _("The password must have at least {n} characters.").format(n=min_length))
    if len(password) > MAX_LENGTH:
        raise ValidationError(
            _("The password must have at most {n} characters.").format(n=MAX_LENGTH))
    lowered = password.lower()
    if lowered in common_passwords():
        raise ValidationError(_("This password is too common; choose another one."))
    if login and lowered == login.lower():
        raise ValidationError(_("The password must not be the login."))


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return HASHER.check_needs_rehash(password_hash)


def generate_one_time_password() -> str:
    """A random one-time password that is easy to read aloud (no 0/O, 1/l)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    groups = ["".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3)]
    return "-".join(groups)
