#!/usr/bin/env python3
"""Benchmark of the dial queue's claim (a script, not a timed test).

Builds one campaign of N contacts (default 1,000,000) in a fresh SQLite file, then runs
two modes, each made of phases of the same length with P processes (default 20) that
claim a contact and complete it (marked done with two lean UPDATEs in one write
transaction: the point is the claim):

- saturated: every process claims again as soon as it completed (a throughput test; on a
  small machine the latency it shows is mostly queueing for the CPUs and the write lock);
- paced: every process starts a claim every ``--interval`` seconds on average (jittered
  ±50 %), default 1 s: ~30 times what a real 20-seat floor asks for, yet a load the
  machine can serve, so the latency is what one operator waits.

In each mode the phases are

1. ``queue.claim``: the queue walked and the rules checked in a read snapshot, then a
   short write transaction that leases (what the TUI calls);
2. ``queue.claim_next`` inside ``db.run_write``: everything in one write transaction;
3. the floor: a bare sqlite3 claim on the same index, ``BEGIN IMMEDIATE; UPDATE contacts
   SET … WHERE id = (SELECT id … ORDER BY … LIMIT 1) RETURNING id; COMMIT`` (SQLite's
   own busy handler), with the same pacing and completion.

Both cellcall phases use the shipped calling rules on a French consumer prospecting
campaign with recorded consent, so every rule is evaluated for every claim. Latency is
the wall time from the claim call to its return only (completion and pauses are outside
it); "cpu ms" is the claiming process's own CPU time per claim. It reports p50/p99/max,
claims per second over the phase's window, double claims (a contact claimed twice; also
checked in the database) and the ratios to the floor of the same mode.

    python scripts/bench_claim.py                       # 1,000,000 contacts, 20 s a phase
    python scripts/bench_claim.py --contacts 20000 --seconds 5
    python scripts/bench_claim.py --modes paced --interval 0.5
    python scripts/bench_claim.py --contacts 200000 --profile 500   # where a claim's time goes
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
from cellcall.db import make_engine, run_core_write, run_write, unit_of_work
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
    cpu_ms: list[float]

    @property
    def claims(self) -> int:
        return len(self.claimed)

    def pct(self, q: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.latencies_ms if values is None else values)
        if not ordered:
            return float("nan")
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


def _complete(conn: Any, *, contact_id: int, attempt_id: int) -> None:
    conn.execute(text("UPDATE contacts SET status = 'done', attempts = attempts + 1, "
                         "lease_user_id = NULL, lease_station_id = NULL, "
                         "lease_expires_at = NULL WHERE id = :id"), {"id": contact_id})
    conn.execute(text("UPDATE call_attempts SET state = 'ended', result = 'answered' "
                         "WHERE id = :id"), {"id": attempt_id})


class Pacer:
    """When to start the next claim: at once (interval 0, saturated), or on average every
    ``interval`` seconds, jittered ±50 %, whatever the claims took (an arrival schedule,
    so a slow claim does not lower the load)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.next_at = time.monotonic()
        if interval > 0:  # operators do not all press the key in the same millisecond
            self.next_at += random.uniform(0, interval)

    def wait(self) -> None:
        if self.interval <= 0:
            return
        delay = self.next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self.next_at += random.uniform(0.5, 1.5) * self.interval


def cellcall_worker(db_path: str, login: str, user_id: int, locked: bool, interval: float,
                    seconds: float, start: Any, out: Any) -> None:
    engine = make_engine(f"sqlite:///{db_path}")
    actor = Actor(login=login, role=Role.OPERATOR, user_id=user_id)
    rules = load_rules(site=SiteConfig(working_hours=("00:00", "24:00")))
    latencies: list[float] = []
    cpu: list[float] = []
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
        run_core_write(engine, partial(_complete, contact_id=first.contact_id,
                                       attempt_id=first.attempt_id))
    t0 = start_time(start)
    deadline = t0 + seconds
    pacer = Pacer(interval)
    while True:
        pacer.wait()
        if time.monotonic() >= deadline:
            break
        now = BASE_NOW + timedelta(seconds=time.monotonic() - t0)
        begin, cpu_begin = time.perf_counter(), time.process_time()
        try:
            result = one(now)
        except Exception as exc:
            errors += 1
            print(f"{login}: {exc}", file=sys.stderr)
            continue
        latencies.append((time.perf_counter() - begin) * 1000)
        cpu.append((time.process_time() - cpu_begin) * 1000)
        if isinstance(result, queue.NothingCallable):
            print(f"{login}: {result.reason}", file=sys.stderr)
            break
        claimed.append(result.contact_id)
        run_core_write(engine, partial(_complete, contact_id=result.contact_id,
                                       attempt_id=result.attempt_id))
    engine.dispose()
    out.put((latencies, claimed, errors, cold_ms, cpu))


def start_time(start: Any) -> float:
    """Say this process is warm, then wait for the start signal; the phase's window
    starts then, for every process."""
    ready, go = start
    ready.release()
    go.wait()
    return time.monotonic()


# --- phase 2: the floor -------------------------------------------------------------------------
FLOOR_CLAIM = (
    "UPDATE contacts SET status = 'claimed', lease_user_id = ?, lease_expires_at = ? "
    "WHERE id = (SELECT id FROM contacts WHERE campaign_id = ? AND status = 'new' "
    "AND language = 'fr' AND next_attempt_at IS NULL ORDER BY id LIMIT 1) RETURNING id")


def floor_worker(db_path: str, user_id: int, campaign_id: int, interval: float,
                 seconds: float, start: Any, out: Any) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=15)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA busy_timeout = 15000")
    latencies: list[float] = []
    cpu: list[float] = []
    claimed: list[int] = []
    errors = 0
    cold_ms = 0.0
    t0 = start_time(start)
    deadline = t0 + seconds
    pacer = Pacer(interval)
    while True:
        pacer.wait()
        if time.monotonic() >= deadline:
            break
        expires = (BASE_NOW + timedelta(seconds=time.monotonic() - t0 + 300)) \
            .replace(tzinfo=None).isoformat(" ")
        begin, cpu_begin = time.perf_counter(), time.process_time()
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
        cpu.append((time.process_time() - cpu_begin) * 1000)
        if row is None:
            break
        claimed.append(row[0])
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE contacts SET status = 'done', lease_user_id = NULL, "
                     "lease_expires_at = NULL WHERE id = ?", (row[0],))
        conn.execute("COMMIT")
    conn.close()
    out.put((latencies, claimed, errors, cold_ms, cpu))


def run_phase(name: str, target: Any, args_for: list[tuple[Any, ...]],
              seconds: float) -> PhaseResult:
    ctx = multiprocessing.get_context("fork")
    ready, go = ctx.Semaphore(0), ctx.Event()
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, seconds, (ready, go), out))
             for args in args_for]
    for proc in procs:
        proc.start()
    # Every process opens its database and warms up (its cold claim) before the window
    # opens: on a loaded machine the last ones may take seconds, and their cold claims
    # (imports, compiling statements) would otherwise compete with the first timed ones.
    for _ in procs:
        if not ready.acquire(timeout=300):
            raise RuntimeError("a benchmark process did not start")
    time.sleep(0.5)
    go.set()
    parts = [out.get(timeout=seconds + 300) for _ in procs]
    for proc in procs:
        proc.join()
    # Claims started inside the window, over the window (not the stragglers' last claim).
    return PhaseResult(name, [x for p in parts for x in p[0]],
                       [x for p in parts for x in p[1]], seconds, sum(p[2] for p in parts),
                       [p[3] for p in parts], [x for p in parts for x in p[4]])


def database_doubles(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM (SELECT contact_id FROM call_attempts GROUP BY contact_id "
        "HAVING COUNT(*) > 1)").fetchone()
    conn.close()
    return int(count)


MODES = ("saturated", "paced")


def profile(db_path: Path, operator: tuple[str, int], claims: int) -> None:
    """Where one claim's time goes, in one process with nobody else claiming: wall time
    per claim, then cProfile's view (which slows every Python call down, so read its
    proportions rather than its milliseconds)."""
    import cProfile
    import pstats

    engine = make_engine(f"sqlite:///{db_path}")
    actor = Actor(login=operator[0], role=Role.OPERATOR, user_id=operator[1])
    rules = load_rules(site=SiteConfig(working_hours=("00:00", "24:00")))

    def run(first: int, count: int) -> list[float]:
        took = []
        for n in range(first, first + count):
            begin = time.perf_counter()
            got = queue.claim(engine=engine, actor=actor, station_id=None,
                              now=BASE_NOW + timedelta(seconds=n), rules=rules)
            took.append((time.perf_counter() - begin) * 1000)
            assert isinstance(got, queue.ClaimedContact), got
            run_core_write(engine, partial(_complete, contact_id=got.contact_id,
                                           attempt_id=got.attempt_id))
        return sorted(took)

    run(0, 20)  # cold: imports, compiled statements, numbering data
    took = run(20, claims)
    print(f"{claims} claims, one process: p50 {took[len(took) // 2]:.2f} ms, "
          f"p90 {took[int(len(took) * 0.9)]:.2f} ms, mean {sum(took) / len(took):.2f} ms")
    profiler = cProfile.Profile()
    profiler.enable()
    run(20 + claims, claims)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    engine.dispose()


def run_mode(mode: str, db_path: Path, campaign_id: int, operators: list[tuple[str, int]],
             args: argparse.Namespace) -> list[PhaseResult]:
    interval = args.interval if mode == "paced" else 0.0
    phases = []
    for locked in (False, True):
        if locked and not args.claim_next:
            continue
        name = "claim_next in run_write" if locked else "queue.claim"
        phases.append(run_phase(name, cellcall_worker,
                                [(str(db_path), login, uid, locked, interval)
                                 for login, uid in operators], args.seconds))
    phases.append(run_phase("floor: sqlite3 UPDATE…RETURNING", floor_worker,
                            [(str(db_path), uid, campaign_id, interval)
                             for _login, uid in operators], args.seconds))
    return phases


def _ratio(value: float, floor: float) -> str:
    return f"×{value / floor:.0f}" if floor > 0 else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=20)
    parser.add_argument("--db", type=Path, default=None,
                        help="database file to create (default: a temporary one)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--interval", type=float, default=1.0,
                        help="paced mode: seconds between two claims of one process, on "
                             "average (jittered ±50 %%)")
    parser.add_argument("--no-claim-next", dest="claim_next", action="store_false",
                        help="skip the claim_next-in-run_write phases")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="instead of the phases: N claims (and completions) by one "
                             "process under cProfile, the top functions printed")
    args = parser.parse_args(argv)

    results: dict[str, list[PhaseResult]] = {}
    with tempfile.TemporaryDirectory(prefix="cellcall-bench-") as tmp:
        db_path = args.db or Path(tmp) / "bench.sqlite3"
        if db_path.exists():
            parser.error(f"{db_path} exists; give a new file")
        campaign_id, operators = build(db_path, args.contacts, args.processes)
        if args.profile:
            profile(db_path, operators[0], args.profile)
            return 0
        for mode in args.modes:
            results[mode] = run_mode(mode, db_path, campaign_id, operators, args)
        db_doubles = database_doubles(db_path)

    print(f"\n{args.contacts:,} contacts, {args.processes} processes, {args.seconds:g} s per "
          f"phase, {os.cpu_count()} CPUs; load average at the end "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("saturated: claim again at once after completing; paced: one claim every "
          f"{args.interval:g} s per process on average (±50 %)\n")
    header = (f"{'mode':9} {'phase':32} {'claims':>7} {'claims/s':>9} {'p50 ms':>8} "
              f"{'p99 ms':>8} {'max ms':>8} {'cpu ms':>7} {'dbl':>4}  "
              f"{'p50/floor':>9} {'p99/floor':>9} {'thr/floor':>9}")
    print(header)
    print("-" * len(header))
    rows = []
    for mode, phases in results.items():
        floor = phases[-1]
        for phase in phases:
            rate = phase.claims / phase.seconds
            row = {
                "mode": mode, "phase": phase.name, "claims": phase.claims,
                "claims_per_s": round(rate, 1),
                "p50_ms": round(phase.pct(0.50), 2), "p99_ms": round(phase.pct(0.99), 2),
                "max_ms": round(max(phase.latencies_ms, default=float("nan")), 2),
                "cpu_ms_p50": round(phase.pct(0.50, phase.cpu_ms), 2),
                "double_claims": phase.doubles, "errors": phase.errors,
                "p50_ratio": phase.pct(0.5) / floor.pct(0.5),
                "p99_ratio": phase.pct(0.99) / floor.pct(0.99),
                "throughput_ratio": rate / max(floor.claims / floor.seconds, 1e-9)}
            rows.append(row)
            ratios = ("", "", "") if phase is floor else (
                _ratio(phase.pct(0.5), floor.pct(0.5)),
                _ratio(phase.pct(0.99), floor.pct(0.99)),
                f"{row['throughput_ratio']:.2f}")
            print(f"{mode:9} {phase.name:32} {phase.claims:>7} {rate:>9.1f} "
                  f"{row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['max_ms']:>8.1f} "
                  f"{row['cpu_ms_p50']:>7.2f} {phase.doubles:>4}  "
                  f"{ratios[0]:>9} {ratios[1]:>9} {ratios[2]:>9}")
    print("\ncpu ms: the claiming process's CPU per claim (p50); dbl: double claims; "
          "thr/floor: claims/s as a fraction of the floor's")
    for mode, phases in results.items():
        for phase in phases[:-1]:
            cold = sorted(phase.cold_ms)
            print(f"{mode} {phase.name}: first (cold) claim per process, before the timed "
                  f"run: median {cold[len(cold) // 2]:.0f} ms, max {cold[-1]:.0f} ms")
        errors = sum(p.errors for p in phases)
        if errors:
            print(f"{mode}: {errors} errors (see stderr)")
    print(f"\ndouble claims in the database (all cellcall phases): {db_doubles}")
    for mode, phases in results.items():
        ours = phases[0]
        met = ours.pct(0.99) <= 20.0 and ours.doubles == 0 and db_doubles == 0
        print(f"target for queue.claim, {mode} (p99 ≤ 20 ms, no double claim): "
              f"{'met' if met else 'NOT met'} (p99 {ours.pct(0.99):.1f} ms)")
    if args.json:
        print(json.dumps({"rows": rows, "db_doubles": db_doubles}))
    doubles = sum(p.doubles for phases in results.values() for p in phases) + db_doubles
    return 0 if doubles == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
