"""The supervisor's services as the console calls them: one transaction per call.

The screens run these in worker threads; each method opens its own short read or write
transaction and returns the services' plain dataclasses. Nothing here checks a role: the
services do, with the logged-in user's actor, so an operator's actor is refused there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from cellcall.config import Config
from cellcall.db import read_session, run_write
from cellcall.models.floor import MonitorMode
from cellcall.services import (
    campaigns,
    floor,
    monitoring,
    quality,
    site_controls,
    timesheets,
    training,
    users,
)
from cellcall.services.actors import Actor
from cellcall.telephony.recordings import recordings_root

T = TypeVar("T")


class SupervisorDesk:
    """What the console reads and does, as the user whose actor it is given."""

    def __init__(self, *, engine: Engine, config: Config,
                 actor: Callable[[], Actor]) -> None:
        self.engine = engine
        self.config = config
        self._actor = actor

    @property
    def actor(self) -> Actor:
        # Read at each call: a logout in between refuses the next call.
        return self._actor()

    def _read(self, work: Callable[[Session], T]) -> T:
        with read_session(self.engine) as session:
            return work(session)

    def _write(self, work: Callable[[Session], T]) -> T:
        return run_write(self.engine, work)

    # --- the floor ---------------------------------------------------------------------
    def snapshot(self) -> floor.FloorSnapshot:
        actor = self.actor
        return self._read(lambda s: floor.floor_snapshot(session=s, actor=actor,
                                                         config=self.config))

    def figures(self, login: str) -> floor.OperatorFigures:
        actor = self.actor
        return self._read(lambda s: floor.operator_figures(
            session=s, actor=actor, operator_login=login, config=self.config))

    def start_site_stop(self, reason: str) -> site_controls.SiteStopView:
        actor = self.actor
        return self._write(lambda s: site_controls.start_site_stop(session=s, actor=actor,
                                                                    reason=reason))

    def lift_site_stop(self) -> None:
        actor = self.actor
        self._write(lambda s: site_controls.lift_site_stop(session=s, actor=actor))

    def force_logout(self, station_id: int) -> None:
        actor = self.actor
        # A silent station will never obey: the service clears it at once.
        silent_after = self.config.supervision.silent_after_seconds
        self._write(lambda s: site_controls.force_logout(
            session=s, actor=actor, station_id=station_id,
            silent_after_seconds=silent_after))

    def decide_pause(self, request_id: int, approve: bool) -> None:
        actor = self.actor
        self._write(lambda s: site_controls.decide_pause(
            session=s, actor=actor, request_id=request_id, approve=approve))

    # --- listening ----------------------------------------------------------------------
    def start_monitor(self, station_id: int, mode: MonitorMode) -> monitoring.MonitorTicket:
        actor = self.actor
        return self._write(lambda s: monitoring.start_monitor(
            session=s, actor=actor, station_id=station_id, mode=mode, config=self.config))

    def change_monitor_mode(self, monitor_id: int,
                            mode: MonitorMode) -> monitoring.MonitorTicket:
        actor = self.actor
        return self._write(lambda s: monitoring.change_mode(
            session=s, actor=actor, monitor_id=monitor_id, mode=mode, config=self.config))

    def end_monitor(self, monitor_id: int) -> None:
        actor = self.actor
        self._write(lambda s: monitoring.end_monitor(session=s, actor=actor,
                                                     monitor_id=monitor_id))

    # --- recordings and scorecards ---------------------------------------------------------
    def operators(self) -> list[users.UserView]:
        actor = self.actor
        return [u for u in self._read(lambda s: users.list_users(session=s, actor=actor))
                if u.role == "operator"]

    def campaigns(self) -> list[campaigns.CampaignView]:
        actor = self.actor
        return self._read(lambda s: campaigns.list_campaigns(session=s, actor=actor))

    def recordings(self, *, operator_login: str | None = None,
                   campaign_slug: str | None = None, day: date | None = None,
                   disposition: str | None = None) -> list[quality.RecordingRow]:
        actor = self.actor
        return self._read(lambda s: quality.list_recordings(
            session=s, actor=actor, operator_login=operator_login,
            campaign_slug=campaign_slug, day=day, disposition=disposition,
            site_timezone=self.config.site.timezone))

    def open_recording(self, attempt_id: int) -> Path:
        actor = self.actor
        root = recordings_root(self.config, self.config.telephony.recordings_dir)
        return self._write(lambda s: quality.open_recording(
            session=s, actor=actor, attempt_id=attempt_id, recordings_root=root))

    def scorecard(self, campaign_id: int) -> tuple[quality.Criterion, ...]:
        actor = self.actor
        return self._read(lambda s: quality.scorecard(session=s, actor=actor,
                                                      campaign_id=campaign_id))

    def score_call(self, *, attempt_id: int, points: dict[str, int],
                   comments: dict[str, str], comment: str) -> quality.ScoreView:
        actor = self.actor
        return self._write(lambda s: quality.score_call(
            session=s, actor=actor, attempt_id=attempt_id, points=points, comments=comments,
            comment=comment))

    def operator_scores(self, login: str) -> list[quality.ScoreView]:
        actor = self.actor
        return self._read(lambda s: quality.operator_scores(session=s, actor=actor,
                                                            operator_login=login))

    # --- training, coaching, hours ------------------------------------------------------------
    def training_record(self, login: str) -> Sequence[training.ModuleRow]:
        actor = self.actor
        return self._read(lambda s: training.training_record(session=s, actor=actor,
                                                             operator_login=login))

    def set_module_hours(self, login: str, code: str, *, done_hours: float | None = None,
                         planned_hours: float | None = None) -> None:
        actor = self.actor
        self._write(lambda s: training.set_module_hours(
            session=s, actor=actor, operator_login=login, code=code, done_hours=done_hours,
            planned_hours=planned_hours))

    def sign_off(self, login: str, code: str) -> None:
        actor = self.actor
        self._write(lambda s: training.sign_off(session=s, actor=actor, operator_login=login,
                                                code=code))

    def notes_for(self, login: str) -> list[training.CoachingNoteView]:
        actor = self.actor
        return self._read(lambda s: training.notes_for(session=s, actor=actor,
                                                       operator_login=login))

    def add_coaching_note(self, login: str, text: str,
                          attempt_id: int | None = None) -> training.CoachingNoteView:
        actor = self.actor
        return self._write(lambda s: training.add_coaching_note(
            session=s, actor=actor, operator_login=login, text=text, attempt_id=attempt_id))

    def timesheet(self, *, period: str, anchor: date,
                  operator_login: str | None = None) -> list[timesheets.TimesheetRow]:
        actor = self.actor
        return self._read(lambda s: timesheets.timesheet(
            session=s, actor=actor, config=self.config, period=period, anchor=anchor,
            operator_login=operator_login))
