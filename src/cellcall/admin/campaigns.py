"""``client`` and ``campaign`` commands."""

from __future__ import annotations

import typer

from cellcall.admin.context import ctx_of, done, print_rows
from cellcall.i18n import _
from cellcall.models.campaigns import Audience, CampaignCreate, CampaignType
from cellcall.services import campaigns

client_app = typer.Typer(help=_("Client companies."), no_args_is_help=True)
campaign_app = typer.Typer(help=_("Campaigns."), no_args_is_help=True)


@client_app.command("add", help=_("Add a client company."))
def client_add(ctx: typer.Context, name: str) -> None:
    admin = ctx_of(ctx)
    admin.write(lambda s: campaigns.add_client(session=s, actor=admin.actor, name=name))
    done(_("Client {name} added.").format(name=name.strip()))


@campaign_app.command("create", help=_("Create a campaign for a client."))
def campaign_create(
    ctx: typer.Context,
    slug: str = typer.Argument(..., help=_("Short name, e.g. rdv-b2b-2026.")),
    client: str = typer.Option(..., "--client", help=_("Client company name.")),
    type_: CampaignType = typer.Option(..., "--type", help=_("Campaign type.")),
    audience: Audience = typer.Option(..., "--audience", help=_("consumer or business.")),
    country: str = typer.Option(..., "--country", metavar="CC", help=_("Country code, e.g. FR.")),
    script: str | None = typer.Option(None, "--script", metavar="FILE",
                                      help=_("Call script file.")),
    languages: str = typer.Option("fr", "--languages", help=_("Languages, e.g. fr,ru,tr.")),
    name: str | None = typer.Option(None, "--name", help=_("Display name.")),
) -> None:
    admin = ctx_of(ctx)
    data = CampaignCreate(slug=slug, client_name=client, type=type_, audience=audience,
                          country=country, languages=languages.split(","),
                          script_path=script, name=name)
    admin.write(lambda s: campaigns.create_campaign(session=s, actor=admin.actor, data=data))
    done(_("Campaign {slug} created.").format(slug=slug))


@campaign_app.command("list", help=_("List campaigns."))
def campaign_list(ctx: typer.Context) -> None:
    admin = ctx_of(ctx)
    with admin.read() as s:
        rows = campaigns.list_campaigns(session=s, actor=admin.actor)
    print_rows(
        [_("slug"), _("client"), _("type"), _("audience"), _("country"), _("languages"),
         _("status"), _("contacts")],
        [[c.slug, c.client, c.type, c.audience, c.country, ",".join(c.languages), c.status,
          c.contacts] for c in rows])


@campaign_app.command("close", help=_("Close a campaign: its contacts are no longer called."))
def campaign_close(ctx: typer.Context, slug: str) -> None:
    admin = ctx_of(ctx)
    admin.write(lambda s: campaigns.close_campaign(session=s, actor=admin.actor, slug=slug))
    done(_("Campaign {slug} closed.").format(slug=slug))


def register(app: typer.Typer) -> None:
    app.add_typer(client_app, name="client")
    app.add_typer(campaign_app, name="campaign")
