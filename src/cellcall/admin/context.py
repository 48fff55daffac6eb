"""What every admin command needs: configuration, the engine, the acting admin."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cellcall.config import Config, load_config
from cellcall.db import make_engine, read_session, run_write
from cellcall.services.actors import Actor, shell_admin
from cellcall.services.schema import require_current_schema, require_database_file

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


@dataclass
class AdminContext:
    config_path: str | None
    db: str | None
    _config: Config | None = None
    _engine: Engine | None = None
    actor: Actor = field(default_factory=shell_admin)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, db=self.db)
        return self._config

    def engine(self, *, check_schema: bool = True) -> Engine:
        if self._engine is None:
            if check_schema:
                require_database_file(self.config.database_url)
            self._engine = make_engine(self.config.database_url,
                                       busy_timeout_ms=self.config.database.busy_timeout_ms)
            if check_schema:
                require_current_schema(self._engine)
        return self._engine

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one write transaction: all of it is written, or nothing."""
        return run_write(self.engine(), work)

    def read(self) -> Session:
        return read_session(self.engine())


def ctx_of(ctx: typer.Context) -> AdminContext:
    obj = ctx.find_root().obj
    assert isinstance(obj, AdminContext)
    return obj


def print_rows(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table for a person at a terminal; tab-separated lines for a script."""
    if sys.stdout.isatty():
        table = Table(*headers)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
        return
    print("\t".join(headers))
    for row in rows:
        print("\t".join("" if v is None else str(v).replace("\t", " ") for v in row))


def done(message: str) -> None:
    """A one-line confirmation on stdout."""
    print(message)
