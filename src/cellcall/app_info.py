"""Name and version strings shown to users."""

from __future__ import annotations

from cellcall import __version__
from cellcall.i18n import _


def app_banner() -> str:
    return _("cellcall {version} — telephone workshop").format(version=__version__)
