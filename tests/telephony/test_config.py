"""The [telephony] section checks itself; the secrets file must be private."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cellcall.errors import ValidationError
from cellcall.telephony.config import TelephonyConfig, read_secret


def test_defaults_are_local_and_safe() -> None:
    config = TelephonyConfig()
    assert config.bind_address == "127.0.0.1"
    assert (config.ring_timeout_s, config.call_time_limit_s) == (30.0, 1200)
    assert config.agent_leg == "null" and config.transport == "udp"
    assert config.codec_list == ("PCMA", "PCMU")


@pytest.mark.parametrize(("key", "value"), [
    ("transport", "sctp"), ("agent_leg", "pigeon"), ("sip_port", 70000),
    ("ring_timeout_s", 0), ("call_time_limit_s", -1), ("trunk_pattern", "sip:pbx"),
    ("log_level", 9), ("caller_ids", {"x": 33}),
])
def test_bad_values_are_refused(key: str, value: object) -> None:
    with pytest.raises(ValidationError, match=key):
        TelephonyConfig(**{key: value})  # type: ignore[arg-type]


def test_registrar_needs_credentials() -> None:
    with pytest.raises(ValidationError, match="account_user"):
        TelephonyConfig(registrar="sip:pbx", account_user="st1")


def _secret(tmp_path: Path, mode: int, text: str = "s3cret\n") -> Path:
    path = tmp_path / "secret"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_private_secret_is_read(tmp_path: Path) -> None:
    assert read_secret(_secret(tmp_path, 0o600)) == "s3cret"
    assert read_secret(_secret(tmp_path, 0o400, "  pw  \nignored\n")) == "pw"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_group_or_world_readable_secret_is_refused(tmp_path: Path, mode: int) -> None:
    with pytest.raises(ValidationError, match="chmod 600"):
        read_secret(_secret(tmp_path, mode))


def test_missing_or_empty_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="Cannot read"):
        read_secret(tmp_path / "nope")
    with pytest.raises(ValidationError, match="empty"):
        read_secret(_secret(tmp_path, 0o600, "\n"))
    with pytest.raises(ValidationError, match="not a file"):
        read_secret(tmp_path)
