"""Campaign progress for the supervisor: totals, why contacts are not callable, outcomes,
and today's calls per hour as a sparkline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Sparkline, Static

from cellcall.i18n import _
from cellcall.tui.widgets.literal import literal

if TYPE_CHECKING:
    from cellcall.services.floor import CampaignProgress


def render_progress(progress: CampaignProgress) -> Text:
    text = Text(end="")
    text.append_text(literal(progress.name, style="bold"))
    text.append(" ")
    text.append_text(literal(f"({progress.slug})", style="dim"))
    text.append("\n")
    text.append(_("Contacts {total} · done {done} · remaining {remaining} · callable now "
                  "{callable_now}").format(total=progress.total, done=progress.done,
                                           remaining=progress.remaining,
                                           callable_now=progress.callable_now))
    text.append("\n")
    text.append(_("Contact rate {rate:.0%} · appointments {appointments}").format(
        rate=progress.contact_rate, appointments=progress.appointments))
    if progress.not_callable:
        text.append("\n")
        text.append(_("Not callable now: "), style="bold")
        text.append_text(literal("; ".join(f"{reason}: {count}"
                                           for reason, count in progress.not_callable)))
    if progress.outcomes:
        text.append("\n")
        text.append(_("Outcomes: "), style="bold")
        text.append_text(literal("; ".join(f"{key}: {count}"
                                           for key, count in progress.outcomes)))
    text.append("\n")
    text.append(_("Calls per hour today ({total} calls):").format(
        total=sum(progress.calls_per_hour)), style="dim")
    return text


class CampaignCard(Vertical):
    """One campaign: its figures and a sparkline of today's calls per hour."""

    DEFAULT_CSS = """
    CampaignCard { height: auto; border: round $secondary; padding: 0 1; }
    CampaignCard > Sparkline { height: 2; width: 48; margin-bottom: 0; }
    """

    def compose(self) -> ComposeResult:
        yield Static(classes="campaign-figures")
        yield Sparkline([], summary_function=max)

    def show(self, progress: CampaignProgress) -> None:
        self.query_one(".campaign-figures", Static).update(render_progress(progress))
        # A sparkline of 24 zeros draws nothing: it shows a flat line as it should.
        self.query_one(Sparkline).data = [float(n) for n in progress.calls_per_hour]


class CampaignProgressList(VerticalScroll):
    """Every open campaign, one card each, updated in place while the list is the same."""

    DEFAULT_CSS = """
    CampaignProgressList { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._slugs: list[str] = []

    def show(self, campaigns: Sequence[CampaignProgress]) -> None:
        slugs = [c.slug for c in campaigns]
        if slugs != self._slugs:
            self._slugs = slugs
            self.remove_children()
            cards = [CampaignCard() for _c in campaigns]
            if not cards:
                self.mount(Static(_("No open campaign."), classes="hint"))
                return
            self.mount_all(cards)
            # Filled once mounted (their children exist then).
            self.call_after_refresh(self._fill, campaigns)
            return
        self._fill(campaigns)

    def _fill(self, campaigns: Sequence[CampaignProgress]) -> None:
        for card, progress in zip(self.query(CampaignCard), campaigns, strict=False):
            card.show(progress)
