"""The ``cellcall`` command: one TUI process per terminal.

    cellcall [--db X] [--config F] [--station NAME] [--demo]

No argument takes a phone number. ``--demo`` prepares the embedded default (a SQLite file
with the demo site, and the simulated SIP line) and starts the same application.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
from collections.abc import Sequence

from sqlalchemy.engine import Engine

from cellcall.config import Config, load_config
from cellcall.db import make_engine
from cellcall.errors import CellcallError
from cellcall.i18n import _
from cellcall.services.schema import require_current_schema, require_database_file
from cellcall.services.workstation import Workstation
from cellcall.telephony.phone import Phone, SupervisorPhone
from cellcall.tui.app import CellcallApp

DEMO_STATION = "demo-1"


def build_app(*, config: Config, engine: Engine, station: str | None,
              phone: Phone | None, idle_lock_seconds: float | None = None,
              supervisor_phone: SupervisorPhone | None = None) -> CellcallApp:
    """The application from its services; the tests build it the same way."""
    workstation = Workstation(engine=engine, config=config, station_name=station)
    return CellcallApp(workstation=workstation, phone=phone,
                       idle_lock_seconds=idle_lock_seconds,
                       supervisor_phone=supervisor_phone)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cellcall", description=_(
        "cellcall: the telephone workshop's station (operators and supervisors)."))
    parser.add_argument("--db", metavar="PATH_OR_URL", default=None,
                        help=_("Database: a SQLite file path or a database URL."))
    parser.add_argument("--config", metavar="FILE", default=None,
                        help=_("Configuration file (TOML)."))
    parser.add_argument("--station", metavar="NAME",
                        default=os.environ.get("CELLCALL_STATION"),
                        help=_("This terminal's station name."))
    parser.add_argument("--demo", action="store_true",
                        help=_("Run the demo: demo site and simulated SIP line."))
    return parser.parse_args(argv)


def _kiosk_signals() -> None:
    """Interrupt, quit and suspend never end the app (Textual reads the keys itself)."""
    for name in ("SIGINT", "SIGQUIT", "SIGTSTP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)


def _prepare_demo(config: Config, engine: Engine) -> None:
    from cellcall.services import demo, schema
    from cellcall.services.actors import SYSTEM

    schema.init_schema(engine)
    demo.ensure_demo_site(engine=engine, actor=SYSTEM)


def _make_phone(config: Config, engine: Engine, station: str | None,
                demo: bool) -> Phone | None:
    from cellcall.telephony.factory import phone_for_station

    return phone_for_station(config=config, engine=engine, station=station, demo=demo)


def _make_supervisor_phone(config: Config, engine: Engine, demo: bool,
                           phone: Phone | None) -> SupervisorPhone | None:
    """The process's one engine serves the supervisor too (a new one only at a terminal
    without a station's phone)."""
    from cellcall.telephony.factory import supervisor_phone

    return supervisor_phone(config=config, engine=engine, demo=demo, phone=phone)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config, db=args.db)
        station = args.station
        if args.demo:
            station = station or DEMO_STATION
            # The demo is for trying cellcall at any hour: its site never closes (operators
            # log in only within the site's working hours).
            config = dataclasses.replace(config, site=dataclasses.replace(
                config.site, working_hours=("00:00", "24:00")))
            engine = make_engine(config.database_url,
                                 busy_timeout_ms=config.database.busy_timeout_ms)
            _prepare_demo(config, engine)
        else:
            require_database_file(config.database_url)
            engine = make_engine(config.database_url,
                                 busy_timeout_ms=config.database.busy_timeout_ms)
            require_current_schema(engine)
        phone = _make_phone(config, engine, station, args.demo)
        app = build_app(config=config, engine=engine, station=station, phone=phone,
                        supervisor_phone=_make_supervisor_phone(config, engine, args.demo,
                                                                phone))
    except CellcallError as exc:
        print(_("cellcall: {error}").format(error=exc), file=sys.stderr)
        return 1
    _kiosk_signals()
    app.run()
    return 0


def run() -> None:
    sys.exit(main())
