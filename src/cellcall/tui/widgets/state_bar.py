"""The station's state, its timer and today's worked time: always visible."""

from __future__ import annotations

from datetime import timedelta

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from cellcall.i18n import _
from cellcall.services.workstation import StationState


def state_label(state: StationState, pause_reason: str | None = None) -> str:
    labels = {
        StationState.LOGGED_OUT: _("Logged out"),
        StationState.READY: _("Ready"),
        StationState.PREVIEW: _("Preview"),
        StationState.DIALING: _("Dialing"),
        StationState.TALKING: _("Talking"),
        StationState.WRAP_UP: _("Wrap-up"),
        StationState.PAUSED: _("Paused"),
    }
    reasons = {"break": _("break"), "meal": _("meal"), "training": _("training"),
               "technical": _("technical")}
    label = labels[state]
    if state == StationState.PAUSED and pause_reason:
        label = f"{label} ({reasons.get(pause_reason, pause_reason)})"
    return label


STATE_STYLES = {
    StationState.READY: "bold black on green",
    StationState.PREVIEW: "bold black on cyan",
    StationState.DIALING: "bold black on yellow",
    StationState.TALKING: "bold white on dark_green",
    StationState.WRAP_UP: "bold black on magenta",
    StationState.PAUSED: "bold white on blue",
    StationState.LOGGED_OUT: "bold",
}


def clock(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class StateBar(Static):
    """One line: state and its timer, worked time, phone and supervisor marks."""

    DEFAULT_CSS = """
    StateBar { height: 1; width: 100%; background: $panel; }
    """

    state: reactive[StationState] = reactive(StationState.LOGGED_OUT)
    """The station's current state."""
    in_state: reactive[timedelta] = reactive(timedelta(0))
    """Time spent in the current state."""
    worked: reactive[timedelta] = reactive(timedelta(0))
    """Today's worked time (pauses excluded)."""
    pause_reason: reactive[str | None] = reactive(None)
    """Why the station is paused, when it is."""
    phone_up: reactive[bool] = reactive(True)
    """Whether the station's phone leg is up."""
    detail: reactive[str] = reactive("")
    """A short extra word: ringing, muted, the call's time warning."""
    monitored: reactive[bool] = reactive(False)
    """A supervisor is on the line (shown only where the site configured the mark)."""
    site_stopped: reactive[bool] = reactive(False)
    """A site stop is in force: no call starts until it is lifted."""

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {state_label(self.state, self.pause_reason)} {clock(self.in_state)} ",
                    style=STATE_STYLES[self.state])
        if self.detail:
            text.append(f" {self.detail} ", style="bold yellow")
        text.append("  ")
        text.append(_("Worked today: {time}").format(time=clock(self.worked)))
        if not self.phone_up:
            text.append("  ")
            text.append(_("PHONE DISCONNECTED"), style="bold white on red")
        if self.site_stopped:
            text.append("  ")
            text.append(_("SITE STOP"), style="bold white on red")
        if self.monitored:
            # Discreet on purpose: the operator knows, the work goes on.
            text.append("  ")
            text.append("● " + _("supervisor on the line"), style="dim cyan")
        return text
