"""Signed monitor tokens: what lets a supervisor's call into a station's engine.

A token is ``<payload>.<signature>``, both base64url without padding: the payload is a
compact JSON object (monitor id, station id, attempt id, mode, supervisor login, expiry as
Unix seconds, a random nonce), the signature its HMAC-SHA256 under the site's monitor key.
It travels in the ``X-Cellcall-Monitor`` header of the INVITE (and of each re-INVITE that
changes the mode). It lives a few seconds and is accepted once: a token read off the wire
cannot be replayed later, and it names one station's one call.

The key is a file in the data directory (``monitor.key``), created on first use with mode
0600 (atomically: two processes starting together agree on one key) and refused when
other accounts can read it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.telephony.private_file import read_private_file

TOKEN_HEADER = "X-Cellcall-Monitor"  # noqa: S105 (a header name)
KEY_FILE = "monitor.key"
TOKEN_TTL_S = 8
"""How long a token is valid: long enough for a loaded machine to place the call."""
MODES = ("listen", "whisper", "barge")
_DOMAIN = b"cellcall-monitor-v1."
_MAX_TOKEN = 1024


class TokenError(Exception):
    """Why a token was refused (a short code for the audit row)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class MonitorClaims:
    monitor_id: int
    station_id: int
    attempt_id: int | None
    mode: str
    supervisor: str
    expires: int
    nonce: str


def key_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / KEY_FILE


def load_or_create_key(path: str | Path) -> bytes:
    """The site's monitor key from ``path``, created (0600) when there is none yet."""
    path = Path(path)
    if not path.exists():
        try:
            _create_key(path)
        except OSError as exc:
            raise ValidationError(_("Cannot create the monitor key file {path}: {error}")
                                  .format(path=path, error=exc.strerror or exc)) from None
    return _read_key(path)


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_key(path: Path) -> bytes:
    raw = read_private_file(path, what=_("the monitor key file"))
    try:
        key = bytes.fromhex(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) < 16:
        raise ValidationError(_("The monitor key file {path} is damaged: remove it, a new "
                                "one is made at the next start").format(path=path))
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, *, monitor_id: int, station_id: int, attempt_id: int | None,
         mode: str, supervisor: str, now: float | None = None,
         ttl_s: float = TOKEN_TTL_S) -> str:
    """A token for this monitor session, valid ``ttl_s`` seconds from ``now``."""
    payload = {"m": monitor_id, "s": station_id, "a": attempt_id, "o": mode,
               "u": supervisor, "e": int((now if now is not None else time.time()) + ttl_s),
               "n": secrets.token_hex(8)}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    mac = hmac.new(key, _DOMAIN + body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(key: bytes, token: str, *, now: float | None = None) -> MonitorClaims:
    """The claims of a well-signed, unexpired token; ``TokenError`` otherwise."""
    if not token:
        raise TokenError("unsigned")
    if len(token) > _MAX_TOKEN or token.count(".") != 1:
        raise TokenError("malformed")
    body, _sep, mac_text = token.partition(".")
    try:
        mac = _unb64(mac_text)
        expected = hmac.new(key, _DOMAIN + body.encode("ascii"), hashlib.sha256).digest()
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise TokenError("malformed") from None
    if not hmac.compare_digest(mac, expected):
        raise TokenError("bad_signature")
    try:
        data = json.loads(_unb64(body))
        claims = MonitorClaims(
            monitor_id=int(data["m"]), station_id=int(data["s"]),
            attempt_id=None if data["a"] is None else int(data["a"]), mode=str(data["o"]),
            supervisor=str(data["u"]), expires=int(data["e"]), nonce=str(data["n"]))
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise TokenError("malformed") from None
    if claims.mode not in MODES:
        raise TokenError("mode")
    if claims.expires < (now if now is not None else time.time()):
        raise TokenError("expired")
    return claims


def header_value(message: str, name: str = TOKEN_HEADER) -> str:
    """The value of header ``name`` in a raw SIP message ('' when absent)."""
    head = message.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    wanted = name.lower()
    for line in head.splitlines()[1:]:
        field, sep, value = line.partition(":")
        if sep and field.strip().lower() == wanted:
            return value.strip()
    return ""
