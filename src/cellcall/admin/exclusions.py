"""``exclusion`` commands: the security office's per-operator exclusion lists."""

from __future__ import annotations

import typer

from cellcall.admin.context import ctx_of, done, print_rows
from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.models.exclusions import ExclusionKind
from cellcall.services import exclusions

exclusion_app = typer.Typer(
    help=_("Keep an operator away from a person, a postal-code area or a number."),
    no_args_is_help=True)


@exclusion_app.command(
    "add", help=_("Keep an operator away from a person, a postal-code area or a number."))
def exclusion_add(
    ctx: typer.Context,
    login: str = typer.Argument(..., help=_("The operator's login.")),
    person: str | None = typer.Option(None, "--person", metavar="NAME",
                                      help=_("First and last name, e.g. \"Jean Dupont\".")),
    postal_code: str | None = typer.Option(
        None, "--postal-code", metavar="CODE",
        help=_("A postal code or its first digits (75011, or 75 for all of Paris).")),
    number: str | None = typer.Option(None, "--number", metavar="PHONE",
                                      help=_("A phone number, in any usual notation.")),
    country: str = typer.Option("FR", "--country", metavar="CC",
                                help=_("Country of a number typed without its code.")),
    note: str = typer.Option("", "--note", help=_("Why (kept with the exclusion).")),
) -> None:
    given = [(kind, value) for kind, value in ((ExclusionKind.PERSON, person),
                                                (ExclusionKind.POSTAL_CODE, postal_code),
                                                (ExclusionKind.NUMBER, number))
             if value is not None]
    if len(given) != 1:
        raise ValidationError(_(
            "Give exactly one of --person, --postal-code or --number."))
    kind, value = given[0]
    admin = ctx_of(ctx)
    view = admin.write(lambda s: exclusions.add_exclusion(
        session=s, actor=admin.actor, operator_login=login, kind=kind, value=value,
        note=note, default_region=country))
    added = {
        ExclusionKind.PERSON: _("Exclusion {id} added: {login} is kept away from the person "
                                "{value}."),
        ExclusionKind.POSTAL_CODE: _("Exclusion {id} added: {login} is kept away from the "
                                     "postal-code area {value}."),
        ExclusionKind.NUMBER: _("Exclusion {id} added: {login} is kept away from the number "
                                "{value}."),
    }[kind]
    done(added.format(id=view.id, login=view.operator_login, value=view.value))


@exclusion_app.command("list", help=_("List exclusions (all, or one operator's)."))
def exclusion_list(
    ctx: typer.Context,
    login: str | None = typer.Argument(None, help=_("Only this operator's exclusions.")),
) -> None:
    admin = ctx_of(ctx)
    with admin.read() as s:
        rows = exclusions.list_exclusions(session=s, actor=admin.actor, operator_login=login)
    print_rows([_("id"), _("operator"), _("kind"), _("value"), _("note"), _("by"), _("since")],
               [[r.id, r.operator_login, exclusions.kind_label(r.kind), r.value, r.note,
                 r.created_by, r.created_at.strftime("%Y-%m-%d %H:%M")] for r in rows])


@exclusion_app.command("remove", help=_("Remove one exclusion."))
def exclusion_remove(ctx: typer.Context, exclusion_id: int = typer.Argument(
        ..., metavar="ID", help=_("The exclusion's id (see exclusion list)."))) -> None:
    admin = ctx_of(ctx)
    view = admin.write(lambda s: exclusions.remove_exclusion(
        session=s, actor=admin.actor, exclusion_id=exclusion_id))
    done(_("Exclusion {id} removed ({login}, {kind} {value}).").format(
        id=view.id, login=view.operator_login, kind=exclusions.kind_label(view.kind),
        value=view.value))


def register(app: typer.Typer) -> None:
    app.add_typer(exclusion_app, name="exclusion")
