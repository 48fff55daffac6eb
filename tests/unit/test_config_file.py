"""Configuration: every mistake in the file gives one clear line; the shipped example lists
every key with its default, so that it can never drift from config.py."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from cellcall.config import _SECTIONS, Config, database_url, load_config
from cellcall.errors import ValidationError
from cellcall.resources import data_file

EXAMPLE = data_file("cellcall.example.toml")


def _load_text(tmp_path: Path, text: str | bytes) -> Config:
    path = tmp_path / "cellcall.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_example_file_equals_the_defaults() -> None:
    loaded = load_config(EXAMPLE)
    defaults = Config()
    assert dataclasses.replace(loaded, data_dir=defaults.data_dir) == defaults


def test_example_file_lists_every_key_with_a_comment() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    assert set(raw) == set(_SECTIONS), "one table per section, nothing else"
    for section, cls in _SECTIONS.items():
        assert set(raw[section]) == {f.name for f in dataclasses.fields(cls)}, section
    # data_dir depends on the machine, so it is documented in a comment.
    assert re.search(r"^# data_dir = ", text, re.MULTILINE)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+ = ", line):
            assert lines[i - 1].startswith("# "), f"key without a comment: {line}"


def test_no_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(None)
    assert config.security.lockout_threshold == 5
    assert config.data_dir == tmp_path / "data-dir"
    assert config.database_url == f"sqlite:///{(tmp_path / 'data-dir').resolve()}/cellcall.sqlite3"


def test_values_are_read_and_db_override_wins(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = _load_text(tmp_path, (
        'data_dir = "/srv/cellcall"\n[site]\nname = "Maison centrale"\nhourly_wage_eur = 5\n'
        'working_hours = ["08:00", "18:30"]\n[security]\nlockout_threshold = 3\n'
        '[database]\nurl = "/srv/cellcall/site.sqlite3"\n'))
    assert config.data_dir == Path("/srv/cellcall")
    assert config.site.name == "Maison centrale"
    assert config.site.working_hours == ("08:00", "18:30")
    assert config.security.lockout_threshold == 3
    assert config.database_url == "sqlite:////srv/cellcall/site.sqlite3"
    monkeypatch.setenv("CELLCALL_DB", str(tmp_path / "env.sqlite3"))
    assert load_config(tmp_path / "cellcall.toml").database_url.endswith("/env.sqlite3")
    assert load_config(tmp_path / "cellcall.toml", db="postgresql://h/db").database_url \
        == "postgresql://h/db"


def test_database_url_forms(tmp_path: Path) -> None:
    assert database_url("", tmp_path) == f"sqlite:///{tmp_path.resolve()}/cellcall.sqlite3"
    assert database_url("rel.sqlite3", tmp_path).startswith("sqlite:////")
    assert database_url("sqlite:///x.db", tmp_path) == "sqlite:///x.db"


BAD_FILES: list[tuple[str | bytes, str]] = [
    ("colour = 'blue'\n", "Unknown configuration key: colour"),
    ("[site]\ncolour = 'blue'\n", r"Unknown configuration key: \[site\] colour"),
    ("[telephony]\nport = 5060\n", r"Unknown configuration key: \[telephony\] port"),
    ("[telephony]\ntransport = 'carrier-pigeon'\n", r"\[telephony\] transport"),
    ("[supervision]\nnewcomer_calls = 'twenty'\n", r"\[supervision\] newcomer_calls"),
    ("[security]\nlockout_threshold = 'five'\n", r"\[security\] lockout_threshold"),
    ("[security]\nlockout_threshold = true\n", r"\[security\] lockout_threshold"),
    ("[security]\nlockout_threshold = 5.5\n", r"\[security\] lockout_threshold"),
    ("[site]\nhourly_wage_eur = '5'\n", r"\[site\] hourly_wage_eur"),
    ("[site]\nworking_hours = '07:00-19:00'\n", r"\[site\] working_hours"),
    ("[site]\nworking_hours = [7, 19]\n", r"\[site\] working_hours"),
    ("[site]\nworking_hours = ['07:00']\n", r"\[site\] working_hours"),
    ("[database]\nurl = 42\n", r"\[database\] url"),
    ("site = 'cellcall'\n", "site"),
    ("data_dir = 3\n", "data_dir"),
    ("[site\nname = 'x'\n", "not valid TOML"),
    ("name = \n", "not valid TOML"),
    (b"[site]\nname = '\xe9'\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_bad_file_gives_one_clear_line(tmp_path: Path, text: str | bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        _load_text(tmp_path, text)
    assert "\n" not in str(info.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not found") as info:
        load_config(tmp_path / "nope.toml")
    assert "\n" not in str(info.value)
    with pytest.raises(ValidationError, match="Cannot read") as info:
        load_config(tmp_path)
    assert "\n" not in str(info.value)


def test_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.toml"
    path.write_text("[queue]\nlease_seconds = 120\n", encoding="utf-8")
    monkeypatch.setenv("CELLCALL_CONFIG", str(path))
    assert load_config().queue.lease_seconds == 120


def test_admin_command_with_a_bad_config_file(admin, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text("[security]\nlockout_threshold = 'five'\n", encoding="utf-8")
    result = admin("--config", str(bad), "init")
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "cellcall-admin: error: Configuration key [security] lockout_threshold has the wrong "
        "type"]
    assert not any(tmp_path.glob("*.sqlite3"))
