"""Which phone a station gets: the SIP engine on the site's PBX, or the demo's simulated line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from cellcall.config import Config
from cellcall.db import read_session
from cellcall.errors import CellcallError
from cellcall.i18n import _
from cellcall.models.users import Station
from cellcall.telephony.config import TelephonyConfig
from cellcall.telephony.engine import SipPhone
from cellcall.telephony.monitor_token import key_path
from cellcall.telephony.phone import Phone, SupervisorPhone
from cellcall.telephony.recordings import recordings_root
from cellcall.telephony.simline import SimulatedLine

# A number in the telemarketing range 01 62 (the demo's campaigns call "consumers").
DEMO_CALLER_ID = "+33162000000"


def telephony_config(config: Config) -> TelephonyConfig:
    """The ``[telephony]`` section, with the recordings directory resolved."""
    tcfg = config.telephony
    return dataclasses.replace(
        tcfg, recordings_dir=str(recordings_root(config, tcfg.recordings_dir)))


def _station_id(engine: Engine, station: str | None) -> int | None:
    if not station:
        return None
    with read_session(engine) as session:
        row = session.exec(select(Station).where(Station.name == station)).first()
    if row is None:
        raise CellcallError(_("Unknown station '{name}'.").format(name=station))
    return row.id


def phone_for_station(*, config: Config, engine: Engine, station: str | None,
                      demo: bool) -> Phone | None:
    """The station's phone (not started), or None when no trunk is configured.

    In the demo the simulated line starts here (a child process on 127.0.0.1) and stops
    with the phone; the agent leg is null. Raises ``CellcallError`` for a configuration
    the engine refuses (secrets file, caller identity, desk phone).
    """
    tcfg = telephony_config(config)
    station_id = _station_id(engine, station)
    if not demo:
        if not tcfg.trunk_pattern:
            return None
        return SipPhone(engine=engine, config=tcfg, station_id=station_id,
                        station_label=f"station:{station}" if station else None,
                        monitor_key_file=key_path(config.data_dir))
    line = SimulatedLine(config.database_url, log_file=Path(config.data_dir) / "simline.log")
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    line.start()
    try:
        tcfg = dataclasses.replace(
            tcfg, trunk_pattern=line.trunk_pattern, agent_leg="null", registrar="",
            outbound_proxy="", transport="udp", bind_address="127.0.0.1", sip_port=0,
            default_caller_id=tcfg.default_caller_id or DEMO_CALLER_ID)
        return SipPhone(engine=engine, config=tcfg, station_id=station_id,
                        station_label=f"station:{station}" if station else None,
                        on_stopped=line.stop, monitor_key_file=key_path(config.data_dir))
    except BaseException:
        line.stop()
        raise


def supervisor_phone(*, config: Config, engine: Engine, demo: bool,
                     phone: Phone | None = None) -> SupervisorPhone | None:
    """The supervisor's phone: listening to stations and playing recordings.

    It is the process's one engine: give the station's ``phone`` when this terminal has
    one (it is returned as it is, already subscribed and started with the app); otherwise
    a new engine that places no customer call is built (not started). None when the site
    has no telephony (no trunk configured, not the demo), like ``phone_for_station``.
    The caller hands it the logged-in supervisor with ``set_operator(actor)``.
    """
    if isinstance(phone, SipPhone):
        return phone
    tcfg = telephony_config(config)
    if not demo and not tcfg.trunk_pattern:
        return None
    if demo:
        tcfg = dataclasses.replace(
            tcfg, agent_leg="null", registrar="", outbound_proxy="", transport="udp",
            bind_address="127.0.0.1", sip_port=0)
    # No trunk: this engine never dials a customer, it only places monitor calls.
    tcfg = dataclasses.replace(tcfg, trunk_pattern="")
    return SipPhone(engine=engine, config=tcfg, station_id=None,
                    station_label="supervisor", monitor_key_file=key_path(config.data_dir))
