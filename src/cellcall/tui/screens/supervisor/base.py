"""What the console's screens share: the desk (the services) and the supervisor's phone."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

from cellcall.tui.screens.base import CellcallScreen
from cellcall.tui.screens.supervisor.desk import SupervisorDesk

if TYPE_CHECKING:
    from cellcall.services.workstation import Workstation
    from cellcall.telephony.phone import SupervisorPhone


class ConsoleScreen(CellcallScreen):
    """A screen of the supervisor's console."""

    @property
    def station(self) -> Workstation:
        return self.app.workstation  # type: ignore[attr-defined,no-any-return]

    @property
    def desk(self) -> SupervisorDesk:
        station = self.station
        return SupervisorDesk(engine=station.engine, config=station.config,
                              actor=lambda: station.actor)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.station.config.site.timezone)

    @property
    def phone(self) -> SupervisorPhone | None:
        """The supervisor's phone, or None when the site has no telephony."""
        return cast("SupervisorPhone | None", getattr(self.app, "supervisor_phone", None))
