"""The ``[telephony]`` section: how the station reaches the PBX, and its audio.

Every key has a documented default; the defaults give a station that talks to nothing but
127.0.0.1 (the simulated line in the demo). ``TelephonyConfig`` checks its own values when
it is built, so a bad file is refused with one line before the engine starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.telephony.private_file import read_private_file

TRANSPORTS = ("udp", "tcp", "tls")
AGENT_LEGS = ("null", "desk_phone", "sound_device")


@dataclass(frozen=True)
class TelephonyConfig:
    bind_address: str = "127.0.0.1"
    """Local address of the SIP and RTP sockets."""
    sip_port: int = 0
    """Local SIP port; 0 lets the system pick a free one."""
    transport: str = "udp"
    """SIP transport: udp, tcp or tls."""
    registrar: str = ""
    """Registrar URI (``sip:pbx.example``); empty means the station does not register."""
    outbound_proxy: str = ""
    """Outbound proxy URI every request goes through; empty means none."""
    domain: str = ""
    """SIP domain of the station's account; empty means the registrar's host (or the bind
    address)."""
    account_user: str = ""
    """The station's SIP user name (digest authentication and From)."""
    secret_file: str = ""
    """File holding the SIP password on its first line; it must be readable by the service
    account only (mode 0600 or 0400)."""
    register_expires_s: int = 300
    """Registration lifetime asked for; the engine re-registers before it runs out."""
    register_retry_first_s: float = 5.0
    """Wait before the first retry after a failed registration; each further retry waits
    twice as long as the one before, up to ``register_retry_s``."""
    register_retry_s: int = 60
    """Longest wait between two registration retries while the PBX is unreachable."""
    trunk_pattern: str = ""
    """How a number becomes a SIP URI, e.g. ``sip:{e164}@pbx.example:5060``; empty means
    this station cannot place customer calls."""
    ring_timeout_s: float = 30.0
    """Seconds a customer call may ring before the engine gives up (no answer)."""
    no_response_timeout_s: float = 5.0
    """Seconds without any answer from the PBX before a call counts as a technical
    failure (the PBX is unreachable)."""
    call_time_limit_s: int = 1200
    """Longest customer call; the engine hangs up when it is reached."""
    call_time_warning_s: int = 60
    """How long before the limit the operator is warned."""
    max_dtmf_digits_per_call: int = 8
    """Most digits an operator may key into one customer call (a switchboard's menu and an
    extension). Kept below a full phone number, so that no company switchboard with an
    outside line can be made to dial someone else."""
    agent_leg: str = "null"
    """The operator's audio: desk_phone (the station's SIP desk phone, called at start and
    kept up), sound_device (this machine's audio device) or null (no audio: demo, tests)."""
    agent_tone_wav: str = ""
    """With the null agent leg: a WAV file played to the customer in a loop (tests);
    empty means silence."""
    agent_record_wav: str = ""
    """With the null agent leg: record what the operator would hear (the customer, a
    whispering supervisor, a played recording) to this WAV file (tests); empty means
    nothing is kept."""
    agent_retry_max_s: int = 60
    """Longest wait between two attempts to call the desk phone back after it dropped."""
    recordings_dir: str = ""
    """Where call recordings go (YYYY/MM/DD/attempt-<id>.wav); empty means
    ``<data_dir>/recordings``."""
    min_free_disk_mb: int = 500
    """Dialing is refused when the recordings disk has less free space than this."""
    recording_retention_days: int = 90
    """Recordings older than this are purged by ``cellcall-admin recordings purge``."""
    caller_ids: dict[str, str] = field(default_factory=dict)
    """Outbound caller number (E.164) per campaign slug: From and P-Asserted-Identity."""
    default_caller_id: str = ""
    """Caller number for campaigns not listed in caller_ids; empty means the account's."""
    codecs: str = "PCMA,PCMU"
    """Audio codecs in order of preference (comma-separated); the others are disabled."""
    clock_rate: int = 8000
    """Conference bridge and recording sample rate (Hz)."""
    tls_ca_file: str = ""
    """With the tls transport: CA certificates that sign the PBX's certificate."""
    tls_verify_server: bool = True
    """With the tls transport: refuse a PBX whose certificate does not verify."""
    log_level: int = 1
    """pjsip's log verbosity (0-6) sent to the Python logger ``cellcall.telephony``."""

    def __post_init__(self) -> None:
        def bad(key: str) -> ValidationError:
            return ValidationError(
                _("Configuration key [telephony] {key} has an invalid value").format(key=key))

        if self.transport not in TRANSPORTS:
            raise bad("transport")
        if self.agent_leg not in AGENT_LEGS:
            raise bad("agent_leg")
        if not 0 <= self.sip_port <= 65535:
            raise bad("sip_port")
        if self.trunk_pattern and "{e164}" not in self.trunk_pattern:
            raise ValidationError(_(
                "Configuration key [telephony] trunk_pattern must contain {{e164}}"))
        for key in ("ring_timeout_s", "no_response_timeout_s", "call_time_limit_s",
                    "register_expires_s", "register_retry_s", "agent_retry_max_s",
                    "clock_rate"):
            if getattr(self, key) <= 0:
                raise bad(key)
        for key in ("call_time_warning_s", "min_free_disk_mb", "recording_retention_days",
                    "max_dtmf_digits_per_call"):
            if getattr(self, key) < 0:
                raise bad(key)
        if not 0 <= self.log_level <= 6:
            raise bad("log_level")
        if any(not isinstance(k, str) or not isinstance(v, str)
               for k, v in self.caller_ids.items()):
            raise bad("caller_ids")
        if bool(self.account_user) != bool(self.secret_file) and self.registrar:
            raise ValidationError(_(
                "Configuration: [telephony] registrar needs both account_user and secret_file"))

    @property
    def codec_list(self) -> tuple[str, ...]:
        return tuple(c.strip() for c in self.codecs.split(",") if c.strip())

    def caller_id_for(self, campaign_slug: str) -> str:
        """The caller number a campaign's calls present ('' for the account's own)."""
        return self.caller_ids.get(campaign_slug, self.default_caller_id)


def read_secret(path: str | Path) -> str:
    """The SIP password from ``path``, refused unless only its owner can read it."""
    path = Path(path)
    what = _("the SIP secrets file")
    try:
        lines = read_private_file(path, what=what).decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ValidationError(_("Cannot read {what} {path}: {error}").format(
            what=what, path=path, error=exc)) from None
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise ValidationError(_("Cannot use {what} {path}: it is empty").format(
            what=what, path=path))
    return secret
