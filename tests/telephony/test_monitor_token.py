"""Monitor tokens: signed, short-lived, bound to one session of one station's one call."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cellcall.errors import ValidationError
from cellcall.telephony import monitor_token as mt

KEY = bytes(range(32))
FIELDS: dict[str, Any] = {"monitor_id": 7, "station_id": 3, "attempt_id": 41, "mode": "whisper",
          "supervisor": "sup.one"}


def test_a_signed_token_carries_its_claims() -> None:
    claims = mt.verify(KEY, mt.sign(KEY, **FIELDS))
    assert (claims.monitor_id, claims.station_id, claims.attempt_id, claims.mode,
            claims.supervisor) == (7, 3, 41, "whisper", "sup.one")
    assert claims.expires <= time.time() + mt.TOKEN_TTL_S + 1
    other = mt.verify(KEY, mt.sign(KEY, **FIELDS))
    assert other.nonce != claims.nonce  # every token is new


@pytest.mark.parametrize(("make", "code"), [
    (lambda: "", "unsigned"),
    (lambda: "no-dot-here", "malformed"),
    (lambda: mt.sign(b"x" * 32, **FIELDS), "bad_signature"),
    (lambda: mt.sign(KEY, now=time.time() - 60, **FIELDS), "expired"),
    (lambda: mt.sign(KEY, **{**FIELDS, "mode": "shout"}), "mode"),
    # The payload of one token under the signature of another.
    (lambda: mt.sign(KEY, **{**FIELDS, "station_id": 4}).split(".")[0] + "."
     + mt.sign(KEY, **FIELDS).split(".")[1], "bad_signature"),
])
def test_bad_tokens(make: Callable[[], str], code: str) -> None:
    with pytest.raises(mt.TokenError) as caught:
        mt.verify(KEY, make())
    assert caught.value.code == code


def test_the_header_is_read_from_the_raw_message() -> None:
    message = ("INVITE sip:monitor@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n"
               "x-cellcall-MONITOR:  abc.def \r\nContent-Length: 4\r\n\r\n"
               "X-Cellcall-Monitor: not-a-header\r\n")
    assert mt.header_value(message) == "abc.def"
    assert mt.header_value("INVITE sip:x SIP/2.0\r\n\r\n") == ""


def test_the_key_file_is_made_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "data" / mt.KEY_FILE
    key = mt.load_or_create_key(path)
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert mt.load_or_create_key(path) == key
    assert not [p for p in path.parent.iterdir() if p.name != mt.KEY_FILE]  # no temp left
    path.chmod(0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        mt.load_or_create_key(path)
    path.chmod(0o600)
    path.write_text("short\n")
    with pytest.raises(ValidationError, match="damaged"):
        mt.load_or_create_key(path)
