#!/usr/bin/env python3
"""Benchmark of the dial queue's claim (a script, not a timed test).

Builds one campaign of N contacts (default 1,000,000) in a fresh SQLite file, then runs
phases of the same length, each with P processes (default 20) that claim a contact and
complete it (marked done directly: the point is the claim) as fast as they can:

1. ``queue.claim``: the queue walked and the rules checked in a read snapshot, then a
   short write transaction that leases (what the TUI should call);
2. ``queue.claim_next`` inside ``db.run_write``: everything in one write transaction;
3. the floor: a bare sqlite3 claim on the same index, ``BEGIN IMMEDIATE; UPDATE contacts
   SET … WHERE id = (SELECT id … ORDER BY … LIMIT 1) RETURNING id; COMMIT``.

Both cellcall phases use the shipped calling rules on a French consumer prospecting
campaign with recorded consent, so every rule is evaluated for every claim. It reports
claim latency p50/p99/max, claims per second and double claims (a contact claimed twice;
also checked in the database), and the ratios to the floor.

    python scripts/bench_claim.py                       # 1,000,000 contacts, 20 s a phase
    python scripts/bench_claim.py --contacts 20000 --seconds 5
    python scripts/bench_claim.py --pause-ms 500         # operators pausing ~0.5 s
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import text

from cellcall.config import SiteConfig
from cellcall.db import make_engine, run_write, unit_of_work
from cellcall.models import Campaign, Client, Role, User
from cellcall.services import queue
from cellcall.services.actors import Actor
from cellcall.services.calling_rules import load_rules
from cellcall.services.schema import init_schema

# A Wednesday, 11:00 in Paris: inside every calling window. Each process adds the real
# time elapsed since the start, so leases and timestamps move as they would.
BASE_NOW = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
CHUNK = 50_000


@dataclass
class PhaseResult:
    name: str
    latencies_ms: list[float]
    claimed: list[int]
    seconds: float
    errors: int
    cold_ms: list[float]

    @property
    def claims(self) -> int:
        return len(self.claimed)

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def doubles(self) -> int:
        return sum(n - 1 for n in Counter(self.claimed).values() if n > 1)


# --- building the campaign ---------------------------------------------------------------
def build(db_path: Path, contacts: int, processes: int) -> tuple[int, list[tuple[str, int]]]:
    engine = make_engine(f"sqlite:///{db_path}")
    init_schema(engine)
    with unit_of_work(engine) as s:
        client = Client(name="Bench")
        s.add(client)
        s.flush()
        campaign = Campaign(slug="bench", name="Bench", client_id=client.id or 0,
                            type="prospecting", audience="consumer", country="FR",
                            languages=["fr"],
                            working_hours={"days": [0, 1, 2, 3, 4],
                                           "ranges": [["09:00", "20:00"]]})
        s.add(campaign)
        users = [User(login=f"op{i:02d}", display_name=f"Operator {i}", role=Role.OPERATOR,
                      languages=["fr"], password_hash="-") for i in range(processes)]  # noqa: S106
        s.add_all(users)
        s.flush()
        campaign_id = campaign.id or 0
        operators = [(u.login, u.id or 0) for u in users]
    engine.dispose()

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    created = "2026-01-05 09:00:00.000000"
    rows = ((campaign_id, f"Prénom{i}", f"Nom{i}", "", f"+336{i:08d}", '["Europe/Paris"]',
             "fr", f'{{"ref": "R{i}"}}', created, "bench consent form", 0, "new", 0, created)
            for i in range(contacts))
    started = time.perf_counter()
    done = 0
    while done < contacts:
        batch = [next(rows) for _ in range(min(CHUNK, contacts - done))]
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO contacts (campaign_id, first_name, last_name, company, phone_e164,"
            " time_zones, language, custom_fields, consent_at, consent_source, has_contract,"
            " status, attempts, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", batch)
        conn.execute("COMMIT")
        done += len(batch)
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(f"built {contacts:,} contacts in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    return campaign_id, operators


# --- phase 1: cellcall's claim ----------------------------------------------------------------
def _claim_next(session: Any, *, actor: Actor, now: datetime,
                rules: Any) -> queue.ClaimedContact | queue.NothingCallable:
    return queue.claim_next(session=session, actor=actor, station_id=None, now=now,
                            rules=rules)


def _complete(session: Any, *, contact_id: int, attempt_id: int) -> None:
    session.execute(text("UPDATE contacts SET status = 'done', attempts = attempts + 1, "
                         "lease_user_id = NULL, lease_station_id = NULL, "
                         "lease_expires_at = NULL WHERE id = :id"), {"id": contact_id})
    session.execute(text("UPDATE call_attempts SET state = 'ended', result = 'answered' "
                         "WHERE id = :id"), {"id": attempt_id})


def _think(pause_ms: float) -> None:
    """An operator's time between two claims (0: claim again at once)."""
    if pause_ms > 0:
        time.sleep(random.uniform(0.5, 1.5) * pause_ms / 1000)


def cellcall_worker(db_path: str, login: str, user_id: int, locked: bool, pause_ms: float,
                    seconds: float, start: Any, out: Any) -> None:
    engine = make_engine(f"sqlite:///{db_path}")
    actor = Actor(login=login, role=Role.OPERATOR, user_id=user_id)
    rules = load_rules(site=SiteConfig(working_hours=("00:00", "24:00")))
    latencies: list[float] = []
    claimed: list[int] = []
    errors = 0

    def one(now: datetime) -> queue.ClaimedContact | queue.NothingCallable:
        if locked:
            return run_write(engine, partial(_claim_next, actor=actor, now=now, rules=rules))
        return queue.claim(engine=engine, actor=actor, station_id=None, now=now, rules=rules)

    # One untimed claim first: compiling the statements and loading the numbering and
    # locale data happen once per process (reported apart as the cold claim).
    begin = time.perf_counter()
    first = one(BASE_NOW)
    cold_ms = (time.perf_counter() - begin) * 1000
    if isinstance(first, queue.ClaimedContact):
        claimed.append(first.contact_id)
        run_write(engine, partial(_complete, contact_id=first.contact_id,
                                  attempt_id=first.attempt_id))
    start.wait()
    if pause_ms > 0:  # operators do not all press the key in the same millisecond
        time.sleep(random.uniform(0, pause_ms / 1000))
    t0 = time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline:
        now = BASE_NOW + timedelta(seconds=time.monotonic() - t0)
        begin = time.perf_counter()
        try:
            result = one(now)
        except Exception as exc:
            errors += 1
            print(f"{login}: {exc}", file=sys.stderr)
            continue
        latencies.append((time.perf_counter() - begin) * 1000)
        if isinstance(result, queue.NothingCallable):
            print(f"{login}: {result.reason}", file=sys.stderr)
            break
        claimed.append(result.contact_id)
        run_write(engine, partial(_complete, contact_id=result.contact_id,
                                  attempt_id=result.attempt_id))
        _think(pause_ms)
    engine.dispose()
    out.put((latencies, claimed, errors, cold_ms))


# --- phase 2: the floor -------------------------------------------------------------------------
FLOOR_CLAIM = (
    "UPDATE contacts SET status = 'claimed', lease_user_id = ?, lease_expires_at = ? "
    "WHERE id = (SELECT id FROM contacts WHERE campaign_id = ? AND status = 'new' "
    "AND language = 'fr' AND next_attempt_at IS NULL ORDER BY id LIMIT 1) RETURNING id")


def floor_worker(db_path: str, user_id: int, campaign_id: int, pause_ms: float,
                 seconds: float, start: Any, out: Any) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=15)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA busy_timeout = 15000")
    latencies: list[float] = []
    claimed: list[int] = []
    errors = 0
    cold_ms = 0.0
    start.wait()
    if pause_ms > 0:  # operators do not all press the key in the same millisecond
        time.sleep(random.uniform(0, pause_ms / 1000))
    t0 = time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline:
        expires = (BASE_NOW + timedelta(seconds=time.monotonic() - t0 + 300)) \
            .replace(tzinfo=None).isoformat(" ")
        begin = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(FLOOR_CLAIM, (user_id, expires, campaign_id)).fetchone()
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            errors += 1
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            print(f"floor: {exc}", file=sys.stderr)
            continue
        latencies.append((time.perf_counter() - begin) * 1000)
        if row is None:
            break
        claimed.append(row[0])
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE contacts SET status = 'done', lease_user_id = NULL, "
                     "lease_expires_at = NULL WHERE id = ?", (row[0],))
        conn.execute("COMMIT")
        _think(pause_ms)
    conn.close()
    out.put((latencies, claimed, errors, cold_ms))


def run_phase(name: str, target: Any, args_for: list[tuple[Any, ...]],
              seconds: float) -> PhaseResult:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, seconds, start, out))
             for args in args_for]
    for proc in procs:
        proc.start()
    time.sleep(1.0 + len(procs) * 0.1)  # every process opens its database and warms up
    began = time.perf_counter()
    start.set()
    parts = [out.get(timeout=seconds + 300) for _ in procs]
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    return PhaseResult(name, [x for p in parts for x in p[0]],
                       [x for p in parts for x in p[1]], elapsed, sum(p[2] for p in parts),
                       [p[3] for p in parts])


def database_doubles(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM (SELECT contact_id FROM call_attempts GROUP BY contact_id "
        "HAVING COUNT(*) > 1)").fetchone()
    conn.close()
    return int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=20)
    parser.add_argument("--db", type=Path, default=None,
                        help="database file to create (default: a temporary one)")
    parser.add_argument("--pause-ms", type=float, default=0.0,
                        help="think time after each completed claim (default 0: claim "
                             "again at once, the saturation test)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="cellcall-bench-") as tmp:
        db_path = args.db or Path(tmp) / "bench.sqlite3"
        if db_path.exists():
            parser.error(f"{db_path} exists; give a new file")
        campaign_id, operators = build(db_path, args.contacts, args.processes)
        phases = []
        for locked in (False, True):
            name = "claim_next in run_write" if locked else "queue.claim"
            phases.append(run_phase(name, cellcall_worker,
                                    [(str(db_path), login, uid, locked, args.pause_ms)
                                     for login, uid in operators], args.seconds))
        db_doubles = database_doubles(db_path)
        floor = run_phase("floor: sqlite3 UPDATE…RETURNING", floor_worker,
                          [(str(db_path), uid, campaign_id, args.pause_ms)
                           for _login, uid in operators],
                          args.seconds)

    rows = []
    for phase in (*phases, floor):
        rows.append({
            "phase": phase.name, "claims": phase.claims,
            "claims_per_s": round(phase.claims / phase.seconds, 1),
            "p50_ms": round(phase.pct(0.50), 2), "p99_ms": round(phase.pct(0.99), 2),
            "max_ms": round(max(phase.latencies_ms, default=float("nan")), 2),
            "double_claims": phase.doubles, "errors": phase.errors})
    print(f"\n{args.contacts:,} contacts, {args.processes} processes, "
          f"{args.seconds:g} s per phase (claim + complete, pause {args.pause_ms:g} ms), "
          f"{os.cpu_count()} CPUs\n")
    print(f"{'phase':34} {'claims':>8} {'claims/s':>9} {'p50 ms':>8} {'p99 ms':>9} "
          f"{'max ms':>9} {'doubles':>8}")
    for r in rows:
        print(f"{r['phase']:34} {r['claims']:>8} {r['claims_per_s']:>9} {r['p50_ms']:>8} "
              f"{r['p99_ms']:>9} {r['max_ms']:>9} {r['double_claims']:>8}")
    for phase in phases:
        cold = sorted(phase.cold_ms)
        print(f"{phase.name}: first (cold) claim per process, before the timed run: "
              f"median {cold[len(cold) // 2]:.0f} ms, max {cold[-1]:.0f} ms")
    print(f"\ndouble claims in the database (both cellcall phases): {db_doubles}")
    ratios: dict[str, dict[str, float]] = {}
    for phase in phases:
        ratios[phase.name] = {
            "p50": phase.pct(0.5) / floor.pct(0.5),
            "p99": phase.pct(0.99) / floor.pct(0.99),
            "throughput": (floor.claims / floor.seconds) / max(phase.claims / phase.seconds,
                                                               1e-9)}
        ratio = ratios[phase.name]
        print(f"{phase.name} / floor: p50 ×{ratio['p50']:.0f}, p99 ×{ratio['p99']:.0f}, "
              f"floor claims/s = ×{ratio['throughput']:.0f}")
    ours = phases[0]
    met = ours.pct(0.99) <= 20.0 and ours.doubles == 0 and db_doubles == 0
    print(f"target for queue.claim (p99 ≤ 20 ms, no double claim): "
          f"{'met' if met else 'NOT met'}")
    if args.json:
        print(json.dumps({"rows": rows, "ratios": ratios, "db_doubles": db_doubles}))
    doubles = sum(p.doubles for p in phases) + db_doubles
    return 0 if doubles == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
