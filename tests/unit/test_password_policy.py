"""argon2id hashes and the NIST SP 800-63B password policy with the shipped common list."""

from __future__ import annotations

import pytest

from cellcall.errors import ValidationError
from cellcall.resources import data_file
from cellcall.services import passwords


def test_hash_is_argon2id_and_verifies() -> None:
    hashed = passwords.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert passwords.verify_password(hashed, "correct horse battery")
    assert not passwords.verify_password(hashed, "correct horse batterY")
    assert not passwords.verify_password("not a hash", "anything")
    assert not passwords.needs_rehash(hashed)


@pytest.mark.parametrize("password", ["1234567", "abcdefg", "short7!"])
def test_seven_characters_are_refused(password: str) -> None:
    with pytest.raises(ValidationError, match="at least 8"):
        passwords.check_policy(password)


@pytest.mark.parametrize("password", ["kq8#vz!m", "eight ch", "ñandú-ok"])
def test_eight_characters_are_accepted_without_composition_rules(password: str) -> None:
    passwords.check_policy(password, login="alice")


@pytest.mark.parametrize("password", ["password1", "PASSWORD123", "azertyuiop", "motdepasse",
                                      "Cellcall123", "qwertyuiop", "marseille13", "iloveyou1",
                                      "prisonnier", "11111111"])
def test_common_passwords_are_refused_whatever_the_case(password: str) -> None:
    with pytest.raises(ValidationError, match="too common"):
        passwords.check_policy(password)


def test_the_login_itself_is_refused() -> None:
    with pytest.raises(ValidationError, match="must not be the login"):
        passwords.check_policy("Jean.Dupont", login="jean.dupont")


def test_too_long_is_refused() -> None:
    passwords.check_policy("x" * 127 + "y")
    with pytest.raises(ValidationError, match="at most 128"):
        passwords.check_policy("x" * 129)


def test_minimum_length_follows_configuration() -> None:
    with pytest.raises(ValidationError, match="at least 12"):
        passwords.check_policy("kq8#vz!mxx", min_length=12)


def test_common_list_file_is_clean() -> None:
    lines = data_file("common-passwords.txt").read_text(encoding="utf-8").splitlines()
    assert len(lines) > 10_000
    assert lines == [line.strip().lower() for line in lines]
    assert all(lines), "no blank lines"
    assert len(set(lines)) == len(lines), "no duplicates"
    assert sum(1 for line in lines if len(line) >= 8) > 3_000
    common = passwords.common_passwords()
    assert {"cellcall", "motdepasse", "azertyuiop", "prison", "password1"} <= common
    # The README's demo password must stay usable.
    assert "demo-cellcall-2026" not in common
    passwords.check_policy("demo-cellcall-2026", login="admin")


def test_generated_one_time_passwords_pass_the_policy_and_differ() -> None:
    generated = {passwords.generate_one_time_password() for _ in range(50)}
    assert len(generated) == 50
    for password in generated:
        passwords.check_policy(password)
        assert not set(password) & set("01lO")
