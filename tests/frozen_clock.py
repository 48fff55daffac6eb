"""One frozen clock for every test that needs exact durations: it stands in for
``cellcall.models.base.utcnow`` wherever a cellcall module imported it."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from datetime import datetime, timedelta

import pytest

import cellcall
from cellcall.models.base import utcnow as real_utcnow

# Every package whose modules may read the clock ("from ... import utcnow").
_CLOCK_READERS = ("cellcall.models", "cellcall.services", "cellcall.telephony", "cellcall.tui")


class FrozenClock:
    """Stands in for ``cellcall.models.base.utcnow`` in every cellcall module."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def _import_clock_readers() -> None:
    """Import every module that may read the clock, so that freezing reaches them all."""
    for package in _CLOCK_READERS:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            try:
                importlib.import_module(info.name)
            except ImportError:  # an optional part (pjsua2) may be missing
                continue


def freeze_clock(monkeypatch: pytest.MonkeyPatch, at: datetime) -> FrozenClock:
    """Freeze ``utcnow`` at ``at`` where cellcall modules imported it."""
    _import_clock_readers()
    clock = FrozenClock(at)
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == cellcall.__name__ and \
                getattr(module, "utcnow", None) is real_utcnow:
            monkeypatch.setattr(module, "utcnow", clock)
    return clock
