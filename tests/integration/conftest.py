"""The prepared site of the integration tests: built once per module (``template``), copied
for each test (``site``) to the path the ``admin`` fixture uses.

A module that needs more than the foundation site defines its own ``template``; the
quality, training, timesheet and two-person modules build theirs with
``quality_support.quality_fixtures``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from floor_world import cheap_passwords, freeze_clock
from foundation_support import build_site
from frozen_clock import FrozenClock


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The foundation site: alice (operator), bob (disabled supervisor), a station, a client,
    a campaign (see ``foundation_support.build_site``)."""
    return build_site(tmp_path_factory.mktemp("site") / "template.sqlite3")


@pytest.fixture
def site(template: Path, db_path: Path) -> Path:
    """A fresh copy of the module's prepared site at ``db_path``."""
    shutil.copyfile(template, db_path)
    return db_path


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """For the floor-world modules: the clock frozen at the world's start, and the users'
    hashes at argon2's smallest cost (a world builds in a second instead of ten)."""
    cheap_passwords(monkeypatch)
    return freeze_clock(monkeypatch)
