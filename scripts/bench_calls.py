#!/usr/bin/env python3
"""Benchmark the telephony engine on this machine, against sipp on 127.0.0.1.

    python scripts/bench_calls.py            # full run (a few minutes per step of N)
    python scripts/bench_calls.py --quick    # a quick look (about a minute)

1. Dial key to INVITE on the wire: the time from ``phone.dial(attempt_id)`` (which reads
   and writes the attempt row and its audit row first) to the INVITE's arrival at a UDP
   socket, stamped by the kernel (SO_TIMESTAMPNS); the socket answers 486 so the next dial
   can follow. The floor: the same INVITE sent by ``sipp`` as UAC to the same socket,
   from the time sipp logs for the send to the kernel's arrival stamp.
2. Concurrent calls: N stations (one process and one engine each, as in production: one
   TUI process per terminal), each with a 440 Hz agent leg bridged to a customer call on a
   sipp UAS that echoes the RTP, every call recorded. The stations dial at ``--dial-rate``
   per second (default 10/s, some twenty times a busy site's rate). N grows (1, 2, 4,
   ...) while every call connects and stays up for the hold time; then a bounded
   bisection between the last good and the first bad N. CPU per call is each station
   process's CPU time over the hold, divided by it.

Figures go to stdout (and ``--json FILE``). Not a test: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SIPP_DIR = REPO / "tests" / "telephony" / "sipp"
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
DIAL_RATE = 10.0  # dials per second across the N stations (a busy site: about 0.5/s)


# --- database rows -------------------------------------------------------------------------
def make_world(db_url: str, stations: int, attempts_per_station: int) -> list[list[int]]:
    """A site with ``stations`` operators/stations, each with claimed attempts."""
    from sqlmodel import Session

    from cellcall.db import make_engine
    from cellcall.models.calls import CallAttempt
    from cellcall.models.campaigns import Campaign, Client
    from cellcall.models.contacts import Contact
    from cellcall.models.users import Station, User
    from cellcall.services.schema import init_schema

    engine = make_engine(db_url)
    init_schema(engine)
    now = datetime.now(UTC)
    out: list[list[int]] = []
    number = 10_000_000
    with Session(engine) as s:
        client = Client(name="Bench")
        s.add(client)
        s.flush()
        campaign = Campaign(slug="bench", name="Bench", client_id=client.id or 0,
                            type="survey", audience="consumer", country="FR",
                            languages=["fr"])
        s.add(campaign)
        s.flush()
        for i in range(stations):
            user = User(login=f"bench{i}", display_name=f"Bench {i}", role="operator",
                        password_hash="x", must_change_password=False)  # noqa: S106
            station = Station(name=f"bench-{i}")
            s.add_all([user, station])
            s.flush()
            ids: list[int] = []
            for _ in range(attempts_per_station):
                number += 1
                phone = f"+336{number:08d}"
                contact = Contact(campaign_id=campaign.id or 0, phone_e164=phone,
                                  status="claimed", lease_user_id=user.id,
                                  lease_station_id=station.id,
                                  lease_expires_at=now + timedelta(hours=2))
                s.add(contact)
                s.flush()
                attempt = CallAttempt(contact_id=contact.id or 0,
                                      campaign_id=campaign.id or 0, operator_id=user.id or 0,
                                      station_id=station.id, phone_e164=phone,
                                      state="claimed", claimed_at=now)
                s.add(attempt)
                s.flush()
                ids.append(attempt.id or 0)
            out.append([station.id or 0, *ids])
        s.commit()
    engine.dispose()
    return out


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- 1. dial key to INVITE -----------------------------------------------------------------
class BusyResponder:
    """A UDP socket that stamps each INVITE's arrival (kernel time) and answers 486."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.arrivals: list[tuple[str, int]] = []   # (Call-ID, ns since the epoch)
        self.arrived = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            ready, _w, _x = select.select([self.sock], [], [], 0.2)
            if not ready:
                continue
            data, ancillary, _flags, addr = self.sock.recvmsg(65535, 1024)
            stamp = time.time_ns()
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    stamp = sec * 1_000_000_000 + nsec
            text = data.decode("utf-8", "replace")
            if not text.startswith("INVITE "):
                continue  # ACKs
            call_id = _header(text, "Call-ID") or _header(text, "i")
            with self.arrived:
                self.arrivals.append((call_id, stamp))
                self.arrived.notify_all()
            self.sock.sendto(_busy_response(text).encode(), addr)

    def wait_count(self, count: int, timeout: float) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.arrivals) >= count, timeout)

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()


def _header(message: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}\s*:\s*(.*?)\r?$", message, re.MULTILINE | re.I)
    return match.group(1).strip() if match else ""


def _busy_response(invite: str) -> str:
    lines = ["SIP/2.0 486 Busy Here"]
    for line in invite.split("\r\n")[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            lines.append(line)
        elif name in ("to", "t"):
            lines.append(line if ";tag=" in line else line + ";tag=bench486")
        elif not line:
            break
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines)


def bench_dial_latency(workdir: Path, samples: int) -> dict[str, Any]:
    from cellcall.db import make_engine
    from cellcall.telephony import events as ev
    from cellcall.telephony.config import TelephonyConfig
    from cellcall.telephony.engine import SipPhone

    db_url = f"sqlite:///{workdir / 'latency.sqlite3'}"
    station_id, *attempts = make_world(db_url, 1, samples + 5)[0]
    responder = BusyResponder()
    engine = make_engine(db_url)
    ended: list[object] = []
    done = threading.Event()

    def listen(event: object) -> None:
        if isinstance(event, ev.CallEnded | ev.EngineError):
            ended.append(event)
            done.set()

    phone = SipPhone(engine=engine, station_id=station_id, config=TelephonyConfig(
        trunk_pattern=f"sip:{{e164}}@127.0.0.1:{responder.port}",
        recordings_dir=str(workdir / "rec-latency"), min_free_disk_mb=1))
    phone.subscribe(listen)
    phone.start()
    if not phone.wait_ready():
        raise SystemExit(f"the engine did not start: {phone.failed}")
    delays: list[float] = []
    try:
        for index, attempt_id in enumerate(attempts):
            done.clear()
            t0 = time.time_ns()
            phone.dial(attempt_id)
            if not responder.wait_count(index + 1, 10):
                raise SystemExit("no INVITE reached the responder")
            if not done.wait(10):
                raise SystemExit("the call did not end")
            if index >= 5:  # warm-up: first calls load codecs, caches, ...
                delays.append((responder.arrivals[index][1] - t0) / 1e6)
            time.sleep(0.02)
    finally:
        phone.stop()
        responder.close()
        engine.dispose()
    return {"samples": len(delays), "p50_ms": percentile(delays, 50),
            "p99_ms": percentile(delays, 99), "max_ms": max(delays),
            "mean_ms": statistics.fmean(delays)}


def bench_floor(workdir: Path, samples: int) -> dict[str, Any]:
    """The same INVITE without the engine, to the same kind of socket.

    sipp (UAC): sipp stamps its message trace just after ``sendto``, so |arrival - stamp|
    bounds its send-to-arrival path from above. Python: ``time.time_ns()`` then
    ``sendto`` of the same bytes, the same clock discipline as the engine's figure.
    """
    responder = BusyResponder()
    messages = workdir / "sipp-floor-messages.log"
    command = ["sipp", "-sf", str(SIPP_DIR / "uac_bench.xml"), "-i", "127.0.0.1",
               "-p", str(free_port()), "-m", str(samples), "-r", "20", "-nostdin",
               "-trace_msg", "-message_file", str(messages), "-timeout", "60s",
               f"127.0.0.1:{responder.port}"]
    try:
        subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, cwd=workdir, timeout=120, check=False)
        responder.wait_count(samples, 5)
        sent: dict[str, int] = {}
        invite = ""
        text = messages.read_text(errors="replace") if messages.exists() else ""
        for block in text.split("-----------------------------------------------")[1:]:
            head, _sep, body = block.partition("\n")
            if "message sent" not in body.split("\n", 1)[0] or "INVITE sip:" not in body:
                continue
            stamp = datetime.strptime(head.strip(), "%Y-%m-%d %H:%M:%S.%f").astimezone(UTC)
            message = body.split("\n", 2)[2].replace("\n", "\r\n")
            invite = invite or message
            sent[_header(message, "Call-ID")] = int(stamp.timestamp() * 1e9)
        sipp = [abs(arrived - sent[call_id]) / 1e6
                for call_id, arrived in responder.arrivals if call_id in sent]
        # The same bytes from Python, each with a Call-ID of its own.
        first = len(responder.arrivals)
        starts: list[int] = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            for index in range(samples):
                data = re.sub(r"(?m)^Call-ID: .*$", f"Call-ID: floor-{index}\r", invite)
                starts.append(time.time_ns())
                sock.sendto(data.encode(), ("127.0.0.1", responder.port))
                responder.wait_count(first + index + 1, 5)
                time.sleep(0.02)
        python = [(responder.arrivals[first + i][1] - t0) / 1e6
                  for i, t0 in enumerate(starts) if first + i < len(responder.arrivals)]
    finally:
        responder.close()

    def summary(delays: list[float]) -> dict[str, Any]:
        return {"samples": len(delays), "p50_ms": percentile(delays, 50),
                "p99_ms": percentile(delays, 99),
                "max_ms": max(delays) if delays else float("nan")}

    return {"sipp": summary(sipp), "python_socket": summary(python)}


# --- 2. concurrent calls -------------------------------------------------------------------
def worker(args: argparse.Namespace) -> int:
    """One station: wait for GO on stdin, dial, hold the call, report as JSON."""
    from cellcall.db import make_engine
    from cellcall.telephony import events as ev
    from cellcall.telephony.config import TelephonyConfig
    from cellcall.telephony.engine import SipPhone
    from cellcall.telephony.prompts import AGENT_TONE, prompt

    engine = make_engine(args.db)
    events: list[object] = []
    connected = threading.Event()
    ended = threading.Event()

    def listen(event: object) -> None:
        events.append(event)
        if isinstance(event, ev.CallProgress) and event.state == ev.CONNECTED:
            connected.set()
        if isinstance(event, ev.CallEnded | ev.EngineError):
            ended.set()

    phone = SipPhone(engine=engine, station_id=args.station_id, config=TelephonyConfig(
        trunk_pattern=args.trunk, recordings_dir=args.recordings, min_free_disk_mb=1,
        agent_tone_wav=str(prompt(AGENT_TONE)), call_time_limit_s=3600))
    phone.subscribe(listen)
    phone.start()
    report: dict[str, Any] = {"station_id": args.station_id, "ok": False}
    try:
        if not phone.wait_ready(120):
            report["error"] = f"engine: {phone.failed}"
            return 0
        print("READY", flush=True)
        go = sys.stdin.readline().split()
        if not go or go[0] != "GO":
            report["error"] = "no GO (the benchmark went away)"
            return 0
        # Operators do not all press Dial in the same millisecond: spread the dials.
        time.sleep(float(go[1]) if len(go) > 1 else 0.0)
        phone.dial(args.attempt_id)
        if not connected.wait(30) or ended.is_set():
            report["error"] = f"not connected: {events[-3:]}"
            return 0
        cpu0, wall0 = time.process_time(), time.monotonic()
        dropped = ended.wait(args.hold)
        cpu1, wall1 = time.process_time(), time.monotonic()
        report["cpu_per_call"] = (cpu1 - cpu0) / (wall1 - wall0)
        if dropped:
            report["error"] = f"dropped: {events[-2:]}"
            return 0
        phone.hangup()
        ended.wait(15)
        report["ok"] = True
    finally:
        phone.stop()
        from sqlmodel import Session

        from cellcall.models.calls import CallAttempt

        with Session(engine) as s:
            row = s.get(CallAttempt, args.attempt_id)
            if row is not None:
                report.update(result=row.result, recording_seconds=row.recording_seconds)
        if report["ok"] and (report.get("recording_seconds") or 0) < args.hold * 0.9:
            report["ok"] = False
            report["error"] = f"short recording: {report.get('recording_seconds')}"
        print("REPORT " + json.dumps(report), flush=True)
    return 0


@dataclass
class Step:
    n: int
    ok: bool
    cpu_per_call: float
    detail: str


def run_step(workdir: Path, n: int, hold: float, dial_rate: float = DIAL_RATE) -> Step:
    db_url = f"sqlite:///{workdir / f'calls-{n}.sqlite3'}"
    world = make_world(db_url, n, 1)
    sip_port, media_port = free_port(), free_port()
    uas = subprocess.Popen(
        ["sipp", "-sf", str(SIPP_DIR / "uas_answer.xml"), "-i", "127.0.0.1",
         "-p", str(sip_port), "-mi", "127.0.0.1", "-mp", str(media_port), "-rtp_echo",
         "-nostdin", "-trace_err", "-error_file", str(workdir / f"sipp-uas-{n}.err")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd=workdir)
    workers: list[subprocess.Popen[str]] = []
    try:
        for station_id, attempt_id in world:
            workers.append(subprocess.Popen(
                [sys.executable, __file__, "--worker", "--db", db_url,
                 "--station-id", str(station_id), "--attempt-id", str(attempt_id),
                 "--trunk", f"sip:{{e164}}@127.0.0.1:{sip_port}",
                 "--recordings", str(workdir / f"rec-{n}"), "--hold", str(hold)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, cwd=REPO))
        for proc in workers:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("READY"):
                return Step(n, False, float("nan"), f"a station did not start: {line!r}")
        for index, proc in enumerate(workers):
            assert proc.stdin is not None
            proc.stdin.write(f"GO {index / dial_rate:.3f}\n")
            proc.stdin.flush()
        reports: list[dict[str, Any]] = []
        for proc in workers:
            out, _err = proc.communicate(timeout=hold + 120)
            found = [json.loads(line[7:]) for line in out.splitlines()
                     if line.startswith("REPORT ")]
            reports.append(found[0] if found else {"ok": False, "error": "no report"})
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        uas.kill()
        uas.wait()
    failures = [r for r in reports if not r.get("ok")]
    cpu = [r["cpu_per_call"] for r in reports if "cpu_per_call" in r]
    detail = "" if not failures else f"{len(failures)} failed: {failures[0].get('error')}"
    return Step(n, not failures, statistics.fmean(cpu) if cpu else float("nan"), detail)


def bench_concurrency(workdir: Path, max_n: int, hold: float, min_n: int = 1,
                      dial_rate: float = DIAL_RATE) -> dict[str, Any]:
    steps: list[Step] = []

    def step(n: int) -> Step:
        result = run_step(workdir, n, hold, dial_rate)
        steps.append(result)
        print(f"  N={n:3d}  {'held' if result.ok else 'FAILED'}  "
              f"CPU per call {result.cpu_per_call * 100:5.1f} % of a core  {result.detail}",
              flush=True)
        return result

    good, bad, n = 0, None, max(1, min_n)
    while n <= max_n:
        if step(n).ok:
            good = n
            n *= 2
        else:
            bad = n
            break
    if bad is None and good < max_n:
        if step(max_n).ok:
            good = max_n
        else:
            bad = max_n
    for _ in range(3):  # bounded bisection
        if bad is None or bad - good <= 1:
            break
        middle = (good + bad) // 2
        if step(middle).ok:
            good = middle
        else:
            bad = middle
    per_call = [s.cpu_per_call for s in steps if s.ok]
    return {"largest_n_held": good, "first_failing_n": bad, "hold_s": hold,
            "dial_rate_per_s": dial_rate,
            "cpu_per_call_pct": statistics.fmean(per_call) * 100 if per_call else None,
            "steps": [s.__dict__ for s in steps]}


def bench_latency(workdir: Path, samples: int, results: dict[str, Any]) -> None:
    print(f"Dial key to INVITE on the wire ({samples} dials)...", flush=True)
    latency = bench_dial_latency(workdir, samples)
    floors = bench_floor(workdir, samples)
    floor = floors["sipp"]
    results["dial_to_invite"] = latency
    results["floor"] = floors
    ratio50 = latency["p50_ms"] / floor["p50_ms"] if floor["p50_ms"] else float("nan")
    ratio99 = latency["p99_ms"] / floor["p99_ms"] if floor["p99_ms"] else float("nan")
    results["ratio_p50"], results["ratio_p99"] = ratio50, ratio99
    py = floors["python_socket"]
    print(f"  engine (dial() to INVITE on the wire): p50 {latency['p50_ms']:.2f} ms  "
          f"p99 {latency['p99_ms']:.2f} ms  max {latency['max_ms']:.2f} ms")
    print(f"  floor, sipp UAC (send to arrival): p50 {floor['p50_ms']:.3f} ms  "
          f"p99 {floor['p99_ms']:.3f} ms  ({floor['samples']} INVITEs)")
    print(f"  floor, Python sendto of the same INVITE: p50 {py['p50_ms']:.3f} ms  "
          f"p99 {py['p99_ms']:.3f} ms")
    print(f"  ratio engine/sipp floor: p50 x{ratio50:.0f}  p99 x{ratio99:.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="few samples, 5 s holds, N up to 4")
    parser.add_argument("--samples", type=int, default=None, help="dials for the latency")
    parser.add_argument("--hold", type=float, default=None, help="seconds each call is held")
    parser.add_argument("--max-n", type=int, default=None, help="largest N tried")
    parser.add_argument("--min-n", type=int, default=1, help="first N tried (then doubled)")
    parser.add_argument("--dial-rate", type=float, default=DIAL_RATE,
                        help="dials per second across the stations when a step starts")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-concurrency", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--station-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--attempt-id", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trunk", help=argparse.SUPPRESS)
    parser.add_argument("--recordings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if shutil.which("sipp") is None:
        print("sipp is not installed (apt-get install sip-tester)", file=sys.stderr)
        return 2
    samples = args.samples or (30 if args.quick else 200)
    hold = args.hold or (5.0 if args.quick else 60.0)
    max_n = args.max_n or (4 if args.quick else 128)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "quick": args.quick}
    with tempfile.TemporaryDirectory(prefix="cellcall-bench-") as tmp:
        workdir = Path(tmp)
        if not args.skip_latency:
            bench_latency(workdir, samples, results)
        if not args.skip_concurrency:
            print(f"Concurrent bridged, recorded calls held {hold:.0f} s "
                  f"(N up to {max_n}, {args.dial_rate:g} dials/s)...", flush=True)
            results["concurrency"] = bench_concurrency(workdir, max_n, hold, args.min_n,
                                                       args.dial_rate)
            c = results["concurrency"]
            print(f"  largest N held with no dropped call: {c['largest_n_held']}"
                  f" (first failing: {c['first_failing_n']});"
                  f" CPU per call {c['cpu_per_call_pct'] or float('nan'):.1f} % of a core")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
