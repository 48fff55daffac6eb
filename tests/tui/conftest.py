"""Fixtures of the TUI tests (defined in ``support``)."""

from tui.support import demo_template, site

__all__ = ["demo_template", "site"]
