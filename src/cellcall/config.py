"""Configuration: one TOML file, every key with a documented default.

Resolution order for the file: ``--config`` then ``CELLCALL_CONFIG``; with neither, the
defaults below apply. The database URL: ``--db`` then ``CELLCALL_DB`` then ``[database] url``
in the file, then a SQLite file under the data directory. A plain path means a SQLite file.
``data/cellcall.example.toml`` lists every key with its default (a test keeps them equal).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.telephony.config import TelephonyConfig


def default_data_dir() -> Path:
    """``CELLCALL_DATA_DIR``, else ``$XDG_DATA_HOME/cellcall``, else ``~/.local/share/cellcall``."""
    if env := os.environ.get("CELLCALL_DATA_DIR"):
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cellcall"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = ""
    """Database URL or path; empty means ``<data_dir>/cellcall.sqlite3``."""
    busy_timeout_ms: int = 15000
    """How long a SQLite connection waits for another writer before giving up."""


@dataclass(frozen=True)
class SiteConfig:
    name: str = "cellcall"
    """Shown in the title bar."""
    timezone: str = "Europe/Paris"
    """The site's own time zone (working hours, timesheets)."""
    working_hours: tuple[str, str] = ("07:00", "19:00")
    """The site's working hours, local time; nobody dials outside them."""
    hourly_wage_eur: float = 5.0
    """Gross hourly wage used by timesheet exports."""


@dataclass(frozen=True)
class SecurityConfig:
    lockout_threshold: int = 5
    """Failed logins in a row before the account is locked."""
    lockout_base_seconds: int = 60
    """First lock length; it doubles with every further lock, up to the maximum."""
    lockout_max_seconds: int = 3600
    """Longest automatic lock."""
    min_password_length: int = 8
    """NIST SP 800-63B minimum; no composition rules."""
    idle_lock_minutes: int = 10
    """The TUI returns to the login screen after this long without a key."""


@dataclass(frozen=True)
class QueueConfig:
    lease_seconds: int = 300
    """How long a claimed contact stays with its operator without renewal."""
    rules_file: str = ""
    """Calling rules (TOML); empty means the one shipped in ``data/calling_rules.toml``."""
    progressive_delay_seconds: float = 5.0
    """Progressive campaigns: seconds between the contact on screen and the automatic dial."""


@dataclass(frozen=True)
class SupervisionConfig:
    heartbeat_seconds: float = 1.0
    """How often a station writes its presence for the supervisor's floor."""
    silent_after_seconds: float = 10.0
    """A station whose heartbeat is older than this is shown as silent (alert)."""
    long_call_minutes: int = 15
    """Alert when a call lasts longer than this."""
    long_pause_minutes: int = 20
    """Alert when a pause lasts longer than this."""
    newcomer_calls: int = 20
    """An operator's first N connected calls raise an alert so a supervisor can listen."""
    show_monitor_mark: bool = True
    """Show the operator a discreet mark while a supervisor is on the line."""
    pause_needs_approval: bool = True
    """Break and meal pauses wait for a supervisor's approval (technical ones never do)."""


@dataclass(frozen=True)
class Config:
    data_dir: Path = field(default_factory=default_data_dir)
    """Where the default database, backups and recordings live."""
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    telephony: TelephonyConfig = field(default_factory=TelephonyConfig)

    @property
    def database_url(self) -> str:
        return database_url(self.database.url, self.data_dir)


def database_url(path_or_url: str, data_dir: Path) -> str:
    """A SQLAlchemy URL from a plain path or a URL; empty means the default file."""
    if not path_or_url:
        return f"sqlite:///{(data_dir / 'cellcall.sqlite3').resolve()}"
    if "://" in path_or_url:
        return path_or_url
    return f"sqlite:///{Path(path_or_url).expanduser().resolve()}"


_SECTIONS: dict[str, type[Any]] = {
    "database": DatabaseConfig,
    "site": SiteConfig,
    "security": SecurityConfig,
    "queue": QueueConfig,
    "supervision": SupervisionConfig,
    "telephony": TelephonyConfig,
}


def _build_section(cls: type[Any], values: dict[str, Any], section: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ValidationError(_("Unknown configuration key: [{section}] {key}").format(
                section=section, key=key))
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            # A list of the same length and item type (a string must not become a tuple).
            if not isinstance(value, list) or len(value) != len(default) or not all(
                    isinstance(v, type(d)) for v, d in zip(value, default, strict=True)):
                raise ValidationError(
                    _("Configuration key [{section}] {key} has the wrong type").format(
                        section=section, key=key))
            value = tuple(value)
        if isinstance(default, bool) != isinstance(value, bool) or (
            not isinstance(value, type(default)) and not (
                isinstance(default, float) and isinstance(value, int))
        ):
            raise ValidationError(
                _("Configuration key [{section}] {key} has the wrong type").format(
                    section=section, key=key))
        kwargs[key] = value
    return cls(**kwargs)


def load_config(path: str | Path | None = None, *, db: str | None = None) -> Config:
    """Read the configuration file (if any) and apply ``--db`` / ``CELLCALL_DB``."""
    path = path or os.environ.get("CELLCALL_CONFIG") or None
    raw: dict[str, Any] = {}
    if path:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValidationError(
                _("Configuration file not found: {path}").format(path=path)) from None
        except OSError as exc:  # a folder, no permission, ...
            raise ValidationError(_("Cannot read the configuration file {path}: {error}")
                                  .format(path=path, error=exc.strerror or exc)) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(_("Configuration file {path} is not valid TOML: {error}")
                                  .format(path=path, error=exc)) from None
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "data_dir":
            if not isinstance(value, str):
                raise ValidationError(_("Configuration key data_dir must be a path"))
            kwargs["data_dir"] = Path(value).expanduser()
        elif key in _SECTIONS:
            if not isinstance(value, dict):
                raise ValidationError(_("Configuration key {key} must be a [{key}] table")
                                      .format(key=key))
            kwargs[key] = _build_section(_SECTIONS[key], value, key)
        else:
            raise ValidationError(_("Unknown configuration key: {key}").format(key=key))
    config = Config(**kwargs)
    override = db or os.environ.get("CELLCALL_DB")
    if override:
        config = dataclasses.replace(
            config, database=dataclasses.replace(config.database, url=override))
    return config
