"""The supervisor's console: the live floor, listening, recordings, scorecards, coaching,
training and hours. One screen per module, each with its own .tcss next to it."""

from cellcall.tui.screens.supervisor.floor import FloorScreen

__all__ = ["FloorScreen"]
