"""``audit`` commands (more maintenance commands register here)."""

from __future__ import annotations

import sys

import typer

from cellcall.admin.context import ctx_of, done
from cellcall.i18n import _
from cellcall.services import audit

audit_app = typer.Typer(help=_("The audit log."), no_args_is_help=True)


@audit_app.command(
    "verify", help=_("Prove the audit chain intact, or name the first row where it breaks."))
def audit_verify(ctx: typer.Context) -> None:
    admin = ctx_of(ctx)
    with admin.read() as s:
        result = audit.verify(session=s)
    if result.ok:
        done(_("Audit log intact: {n} rows; head hash {head}.").format(
            n=result.rows_checked, head=result.head_hash))
        return
    # On stderr like every other failure, so that scripts see one error line there.
    print(_("cellcall-admin: error: {error}").format(
        error=_("Audit log BROKEN at row {id}: {reason}.").format(
            id=result.first_bad_id, reason=result.reason)), file=sys.stderr)
    raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
