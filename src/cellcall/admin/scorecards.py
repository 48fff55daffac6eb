"""``campaign scorecard``: the criteria a campaign's calls are scored on."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from cellcall.admin.campaigns import campaign_app
from cellcall.admin.context import ctx_of, done, print_rows
from cellcall.errors import ValidationError
from cellcall.i18n import _, ngettext
from cellcall.services import quality


def campaign_scorecard(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help=_("Campaign.")),
    file: str | None = typer.Option(
        None, "--file", metavar="F.toml",
        # typer renders help as rich markup: "[[criterion]]" must not be read as a tag.
        help=escape(_("Scorecard file ([[criterion]] key, max_points, label), as "
                      "data/scorecard.toml."))),
    reset: bool = typer.Option(False, "--reset", help=_("Go back to the default criteria.")),
) -> None:
    if file is not None and reset:
        raise ValidationError(_("Give --file or --reset, not both."))
    admin = ctx_of(ctx)
    if file is not None:
        criteria = quality.load_scorecard_file(Path(file))
        admin.write(lambda s: quality.set_scorecard(session=s, actor=admin.actor, slug=slug,
                                                    criteria=criteria))
        done(ngettext("Campaign {slug} is now scored on {n} criterion of its own.",
                      "Campaign {slug} is now scored on {n} criteria of its own.",
                      len(criteria)).format(slug=slug, n=len(criteria)))
        return
    if reset:
        admin.write(lambda s: quality.set_scorecard(session=s, actor=admin.actor, slug=slug,
                                                    criteria=None))
        done(_("Campaign {slug} is scored on the default criteria again.").format(slug=slug))
        return
    with admin.read() as session:
        own, criteria = quality.campaign_scorecard(session=session, actor=admin.actor,
                                                   slug=slug)
    print_rows([_("key"), _("criterion"), _("max points")],
               [[c.key, c.label, c.max_points] for c in criteria])
    if not own:
        done(_("(the default criteria)"))


def register(app: typer.Typer) -> None:
    # A sub-command of ``campaign``: the typer group is built when the command runs.
    campaign_app.command("scorecard", help=_("Show a campaign's scorecard, or set it (--file) or "
                                             "reset it (--reset)."))(campaign_scorecard)
