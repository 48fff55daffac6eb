"""Supervisors listening to a station's customer call: listen, whisper, barge.

The service decides and audits; the phones carry it out. ``start_monitor`` checks the
role and that the station is in a connected call, writes a ``MonitorSession`` row and
returns a ``MonitorTicket`` whose signed token the station's engine checks before it lets
the supervisor's call in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MonitorTicket:
    """What the supervisor's phone needs to reach the station's engine."""

    monitor_id: int
    station_id: int
    station_name: str
    attempt_id: int | None
    mode: str
    target_uri: str
    token: str
