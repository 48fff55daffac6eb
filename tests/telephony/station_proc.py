"""A station's engine in a process of its own (one pjsua2 Endpoint per process), driven by
the tests over pipes: JSON commands in on stdin, JSON events out on stdout.

    python -m telephony.station_proc --db URL --station-id N --key-file F --config JSON

It prints ``READY <monitor_uri>`` once the engine runs, then one JSON object per event
(``{"type": "CallEnded", ...fields}``). Commands: ``{"cmd": "dial", "attempt_id": N}``,
``{"cmd": "hangup"}``, ``{"cmd": "operator", "login": ..., "role": ..., "user_id": N}``,
``{"cmd": "stop"}``. It stops its engine when stdin closes (the test went away).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cellcall.db import make_engine
from cellcall.models.users import Role
from cellcall.services.actors import Actor
from cellcall.telephony.config import TelephonyConfig
from cellcall.telephony.engine import SipPhone

READY = "READY "


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--station-id", type=int, required=True)
    parser.add_argument("--key-file", required=True)
    parser.add_argument("--config", required=True, help="TelephonyConfig fields (JSON)")
    args = parser.parse_args(argv)
    out_lock = threading.Lock()

    def write(line: str) -> None:
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def on_event(event: object) -> None:
        fields = (dataclasses.asdict(event) if dataclasses.is_dataclass(event)
                  and not isinstance(event, type) else {})
        write(json.dumps({"type": type(event).__name__, **fields}))

    phone = SipPhone(engine=make_engine(args.db), config=TelephonyConfig(
        **json.loads(args.config)), station_id=args.station_id,
        monitor_key_file=args.key_file)
    phone.subscribe(on_event)
    phone.start()
    if not phone.wait_ready(20):
        write(json.dumps({"type": "failed", "message": phone.failed}))
        phone.stop()
        return 1
    write(READY + phone.monitor_uri)
    for line in sys.stdin:
        command = json.loads(line)
        name = command.get("cmd")
        if name == "dial":
            phone.dial(int(command["attempt_id"]))
        elif name == "hangup":
            phone.hangup()
        elif name == "operator":
            phone.set_operator(Actor(login=command["login"], role=Role(command["role"]),
                                     user_id=command.get("user_id"),
                                     station_id=args.station_id))
        elif name == "stop":
            break
    phone.stop()
    write(json.dumps({"type": "stopped"}))
    return 0


class StationProcess:
    """The parent's handle: start, send commands, wait for events."""

    def __init__(self, *, db_url: str, station_id: int, key_file: Path,
                 config: dict[str, Any], log_file: Path) -> None:
        env = dict(os.environ)
        tests_dir = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (tests_dir, env.get("PYTHONPATH"))
                                            if p)
        with open(log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "telephony.station_proc", "--db", db_url,
                 "--station-id", str(station_id), "--key-file", str(key_file),
                 "--config", json.dumps(config)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                text=True, bufsize=1)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.monitor_uri = ""
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.strip()
            if line.startswith(READY):
                self.monitor_uri = line.removeprefix(READY)
                self._ready.set()
            elif line.startswith("{"):
                self.events.put(json.loads(line))
        self._ready.set()

    def wait_ready(self, timeout: float = 30.0) -> str:
        assert self._ready.wait(timeout) and self.monitor_uri, "the station did not start"
        return self.monitor_uri

    def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def wait_for(self, kind: str, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        def fits(event: dict[str, Any]) -> bool:
            return event.get("type") == kind and all(event.get(k) == v
                                                     for k, v in match.items())

        for event in self.seen:
            if fits(event):
                self.seen.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind} {match} within {timeout} s; got {self.seen}")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if fits(event):
                return event
            self.seen.append(event)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.send(cmd="stop")
                self.process.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.process.kill()
                self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


if __name__ == "__main__":
    sys.exit(main())
