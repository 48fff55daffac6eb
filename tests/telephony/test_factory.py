"""Which phone a station gets; the demo's simulated line starts and stops with it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from cellcall.config import Config, DatabaseConfig
from cellcall.db import read_session
from cellcall.models.floor import StationPresence
from cellcall.telephony import events as ev
from cellcall.telephony.config import TelephonyConfig
from cellcall.telephony.engine import SipPhone
from cellcall.telephony.factory import phone_for_station, supervisor_phone, telephony_config
from telephony.support import EventLog, attempt_row, claim, make_site


def test_no_trunk_means_no_phone(engine: Engine, db_path: Path, tmp_path: Path) -> None:
    make_site(engine)
    config = Config(data_dir=tmp_path, database=DatabaseConfig(url=str(db_path)))
    assert phone_for_station(config=config, engine=engine, station="st-1", demo=False) is None
    assert telephony_config(config).recordings_dir == str(tmp_path / "recordings")


def test_configured_trunk_gives_the_sip_engine(engine: Engine, db_path: Path,
                                               tmp_path: Path) -> None:
    make_site(engine)
    config = Config(data_dir=tmp_path, database=DatabaseConfig(url=str(db_path)))
    tcfg = TelephonyConfig(trunk_pattern="sip:{e164}@pbx.invalid")
    object.__setattr__(config, "telephony", tcfg)  # until Config has the section
    phone = phone_for_station(config=config, engine=engine, station="st-1", demo=False)
    assert isinstance(phone, SipPhone)
    assert phone.config.trunk_pattern == "sip:{e164}@pbx.invalid"


def test_demo_phone_calls_the_simulated_line(engine: Engine, db_path: Path,
                                             tmp_path: Path) -> None:
    site = make_site(engine)
    config = Config(data_dir=tmp_path, database=DatabaseConfig(url=str(db_path)))
    phone = phone_for_station(config=config, engine=engine, station="st-1", demo=True)
    assert isinstance(phone, SipPhone)
    assert phone.config.agent_leg == "null"
    events = EventLog()
    phone.subscribe(events)
    phone.start()
    try:
        assert phone.wait_ready()
        # Supervisors reach this engine at the URI it published, signed with the site key.
        with read_session(engine) as session:
            presence = session.get(StationPresence, site.station_id)
            assert presence is not None and presence.monitor_uri == phone.monitor_uri
        assert (tmp_path / "monitor.key").stat().st_mode & 0o777 == 0o600
        assert supervisor_phone(config=config, engine=engine, demo=True, phone=phone) \
            is phone  # one Endpoint per process
        attempt_id = claim(site, None, "hangup")
        phone.dial(attempt_id)
        events.wait_for(ev.CallProgress, attempt_id=attempt_id, state="connected")
        ended = events.wait_for(ev.CallEnded, attempt_id=attempt_id)
        assert ended.result == ev.ANSWERED_THEN_HUNG_UP
    finally:
        phone.stop()
    row = attempt_row(site, attempt_id)
    assert row.recording_path is not None
    assert Path(row.recording_path).is_relative_to(tmp_path / "recordings")
    # The simulated line went with the phone: its port is free again.
    port = int(phone.config.trunk_pattern.rsplit(":", 1)[1])
    assert not _udp_port_in_use(port)


def test_supervisor_phone_without_a_station_phone(engine: Engine, db_path: Path,
                                                  tmp_path: Path) -> None:
    make_site(engine)
    config = Config(data_dir=tmp_path, database=DatabaseConfig(url=str(db_path)))
    assert supervisor_phone(config=config, engine=engine, demo=False) is None
    phone = supervisor_phone(config=config, engine=engine, demo=True)
    assert isinstance(phone, SipPhone)
    assert phone.config.trunk_pattern == "" and phone.config.agent_leg == "null"
    phone.start()
    try:
        assert phone.wait_ready()
        assert phone.monitor_uri.startswith("sip:monitor@127.0.0.1:")
    finally:
        phone.stop()
    assert not phone.running


def _udp_port_in_use(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False
