"""Reading ``data/calling_rules.toml`` into ``CallingRules`` (validated at load time)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cellcall.config import SiteConfig
from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.resources import data_file
from cellcall.services.calling_rules.hours import ALL_DAYS, WeeklyWindows, parse_hhmm, zone
from cellcall.services.calling_rules.kinds import (
    KINDS,
    AttemptCap,
    ListFreshness,
    RefusalCooldown,
    Rule,
    Scope,
)

DEFAULT_RULES_FILE = "calling_rules.toml"


@dataclass(frozen=True)
class CallingRules:
    """The rules in file order (the order reasons are reported in), the site's hours,
    and how far the queue looks for a callable contact."""

    rules: tuple[Rule, ...]
    site_zone: str
    site_hours: WeeklyWindows
    candidates_per_batch: int = 20
    max_batches: int = 5
    search_horizon_days: int = 400
    source: str = ""

    @property
    def list_sources(self) -> tuple[str, ...]:
        return tuple(sorted({r.source for r in self.rules if isinstance(r, ListFreshness)}))

    @property
    def cap_window_days(self) -> int:
        return max((r.window_days for r in self.rules if isinstance(r, AttemptCap)), default=0)

    @property
    def refusal_dispositions(self) -> frozenset[str]:
        found: set[str] = set()
        for r in self.rules:
            if isinstance(r, RefusalCooldown):
                found |= r.dispositions
        return frozenset(found)

    @property
    def refusal_days(self) -> int:
        return max((r.days for r in self.rules if isinstance(r, RefusalCooldown)), default=0)


def site_windows(site: SiteConfig) -> WeeklyWindows:
    start, end = site.working_hours
    try:
        return WeeklyWindows(ALL_DAYS, ((parse_hhmm(start), parse_hhmm(end)),))
    except ValidationError as exc:
        raise ValidationError(_("[site] working_hours: {error}").format(error=exc)) from None


def _strings(value: Any, key: str, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(_("Calling rule '{rule}': '{key}' must be a list of names.")
                              .format(rule=where, key=key))
    return frozenset(value)


def _rule(table: dict[str, Any], index: int) -> Rule:
    table = dict(table)
    kind = table.pop("kind", None)
    name = table.pop("name", None) or f"{kind}#{index + 1}"
    if not isinstance(name, str):
        raise ValidationError(_("A calling rule's name must be text."))
    if kind not in KINDS:
        raise ValidationError(_("Calling rule '{rule}': unknown kind '{kind}' (known: "
                                "{known}).").format(rule=name, kind=kind,
                                                    known=", ".join(sorted(KINDS))))
    scope = Scope(
        regions=_strings(table.pop("regions", []), "regions", name),
        audiences=_strings(table.pop("audiences", []), "audiences", name),
        campaign_types=_strings(table.pop("campaign_types", []), "campaign_types", name),
    )
    rule = KINDS[kind].from_table(name, scope, table)
    if table:
        raise ValidationError(_("Calling rule '{rule}': unknown key '{key}'.").format(
            rule=name, key=sorted(table)[0]))
    return rule


def parse_rules(text: str, *, site: SiteConfig, source: str = "") -> CallingRules:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(_("The calling rules file {path} is not valid TOML: {error}")
                              .format(path=source, error=exc)) from None
    raw = dict(raw)
    queue = dict(raw.pop("queue", {}))
    tables = raw.pop("rule", [])
    if raw:
        raise ValidationError(_("Calling rules file: unknown section '{key}'.").format(
            key=sorted(raw)[0]))
    if not isinstance(tables, list) or not tables:
        raise ValidationError(_("The calling rules file has no [[rule]] tables."))
    rules = tuple(_rule(t, i) for i, t in enumerate(tables))
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValidationError(_("Two calling rules have the same name."))
    settings: dict[str, int] = {}
    for key in ("candidates_per_batch", "max_batches", "search_horizon_days"):
        if key in queue:
            value = queue.pop(key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValidationError(_("Calling rules file: [queue] {key} must be a positive "
                                        "whole number.").format(key=key))
            settings[key] = value
    if queue:
        raise ValidationError(_("Calling rules file: unknown key [queue] {key}.").format(
            key=sorted(queue)[0]))
    zone(site.timezone)
    return CallingRules(rules=rules, site_zone=site.timezone, site_hours=site_windows(site),
                        source=source, **settings)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, site: SiteConfig) -> CallingRules:
    text = Path(path).read_text(encoding="utf-8")
    return parse_rules(text, site=site, source=path)


def load_rules(path: Path | None = None, *, site: SiteConfig | None = None) -> CallingRules:
    """The calling rules from ``path`` (default: ``data/calling_rules.toml``) with the
    site's working hours and time zone. Cached until the file changes."""
    target = Path(path) if path is not None else data_file(DEFAULT_RULES_FILE)
    try:
        stat = target.stat()
    except OSError:
        raise ValidationError(_("Calling rules file not found: {path}").format(
            path=target)) from None
    return _load_cached(str(target.resolve()), stat.st_mtime_ns, site or SiteConfig())
