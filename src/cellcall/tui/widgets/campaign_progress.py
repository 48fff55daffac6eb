"""Campaign progress for the supervisor: totals, why contacts are not callable, outcomes,
and today's calls per hour as a sparkline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Sparkline, Static

from cellcall.i18n import _, ngettext
from cellcall.services.outcomes import disposition_label
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
        text.append_text(literal("; ".join(_("{label}: {count}").format(label=reason,
                                                                          count=count)
                                           for reason, count in progress.not_callable)))
    if progress.outcomes:
        text.append("\n")
        text.append(_("Outcomes: "), style="bold")
        text.append_text(literal("; ".join(_("{label}: {count}").format(
                                               label=disposition_label(key), count=count)
                                           for key, count in progress.outcomes)))
    text.append("\n")
    total = sum(progress.calls_per_hour)
    text.append(ngettext("Calls per hour today ({total} call):",
                         "Calls per hour today ({total} calls):", total).format(total=total),
                style="dim")
    return text


class CampaignCard(Vertical):
    """One campaign: its figures and a sparkline of today's calls per hour."""

    DEFAULT_CSS = """
    CampaignCard { height: auto; border: round $secondary; padding: 0 1; }
    CampaignCard > Sparkline { height: 2; width: 48; margin-bottom: 0; }
    """

    def __init__(self, progress: CampaignProgress) -> None:
        super().__init__()
        self.progress = progress

    def compose(self) -> ComposeResult:
        yield Static(render_progress(self.progress), classes="campaign-figures")
        # A day without calls draws a flat line, as it should.
        yield Sparkline([float(n) for n in self.progress.calls_per_hour], summary_function=max)

    def show(self, progress: CampaignProgress) -> None:
        self.progress = progress
        if not self.is_mounted:
            return  # compose shows it
        self.query_one(".campaign-figures", Static).update(render_progress(progress))
        self.query_one(Sparkline).data = [float(n) for n in progress.calls_per_hour]


class CampaignProgressList(VerticalScroll):
    """Every open campaign, one card each, updated in place while the list is the same."""

    DEFAULT_CSS = """
    CampaignProgressList { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._slugs: list[str] | None = None

    def show(self, campaigns: Sequence[CampaignProgress]) -> None:
        slugs = [c.slug for c in campaigns]
        if slugs != self._slugs:
            self._slugs = slugs
            self.remove_children()
            if not campaigns:
                self.mount(Static(_("No open campaign."), classes="hint"))
                return
            self.mount_all([CampaignCard(progress) for progress in campaigns])
            return
        for card, progress in zip(self.query(CampaignCard), campaigns, strict=False):
            card.show(progress)
