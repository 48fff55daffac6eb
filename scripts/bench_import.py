#!/usr/bin/env python3
"""Benchmark: import 1,000,000 contacts from CSV with the real command, beside the floor.

    python scripts/bench_import.py [--rows N] [--workers N] [--keep DIR]

1. Generates a French-style CSV (';', UTF-8) of N contacts: varied French and Belgian
   numbers in national and international notations, ~1 % repeated and ~1 % invalid.
2. Runs ``cellcall-admin contacts import`` in a child process on a fresh database and
   reports its wall time, rows per second and peak memory: the child's own ru_maxrss, and
   the peak of the child plus its worker processes, sampled from /proc every 50 ms.
3. The floor, in the same run: the same CSV read with the csv module and inserted, with
   no validation at all, by plain sqlite3 ``executemany`` into the same schema (same
   pragmas as cellcall: WAL, synchronous=NORMAL, the import's page cache), in a child
   process too. ``INSERT OR IGNORE`` skips the exact repeats the unique index refuses.

Target (issue 2): <= 60 s and <= 500 MB peak on a 2-core machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ADMIN = Path(sys.executable).parent / "cellcall-admin"
SLUG = "bench"

FLOOR_CODE = r"""
import csv, sqlite3, sys
from datetime import datetime, timezone
db_path, csv_path = sys.argv[1], sys.argv[2]
campaign_id, cache_kib = int(sys.argv[3]), int(sys.argv[4])
db = sqlite3.connect(db_path, isolation_level=None)
db.execute("PRAGMA journal_mode = WAL")
db.execute("PRAGMA synchronous = NORMAL")
db.execute("PRAGMA foreign_keys = ON")
db.execute(f"PRAGMA cache_size = -{cache_kib}")
now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(" ")
sql = ("INSERT OR IGNORE INTO contacts (campaign_id, external_ref, first_name, last_name, "
       "company, phone_e164, time_zones, language, custom_fields, consent_at, "
       "consent_source, consent_wording, has_contract, status, attempts, demo_behaviour, "
       "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
with open(csv_path, encoding="utf-8", newline="") as fh:
    reader = csv.reader(fh, delimiter=";")
    next(reader)
    db.execute("BEGIN IMMEDIATE")
    db.executemany(sql, ((campaign_id, r[0], r[1], r[2], "", r[3], "[]", r[4], "{}", None,
                          None, None, 0, "new", 0, None, now) for r in reader))
    db.execute("COMMIT")
"""

FIRST = ["Jean", "Marie", "Hélène", "Luc", "Zoé", "Éric", "Anne", "Paul", "Inès", "Hugo"]
LAST = ["Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard", "Roux", "Faure"]
CITIES = ["Paris", "Lyon", "Lille", "Nantes", "Liège", "Namur", "Rennes", "Metz"]


def _fr_number(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.6:
        digits = f"0{rng.choice('67')}{rng.randint(0, 99_999_999):08d}"
        if digits[1] == "7" and digits[2] in "012":
            digits = digits[:2] + "8" + digits[3:]  # 07 0/1/2 are not allocated
    else:
        digits = f"0{rng.randint(1, 5)}{rng.randint(0, 99_999_999):08d}"
    style = rng.random()
    if style < 0.4:
        return " ".join(digits[i:i + 2] for i in range(0, 10, 2))
    if style < 0.7:
        return digits
    if style < 0.85:
        return "+33 " + digits[1] + " " + digits[2:]
    return ".".join(digits[i:i + 2] for i in range(0, 10, 2))


def _be_number(rng: random.Random) -> str:
    return f"+32 4{rng.choice('789')}{rng.randint(0, 9)} {rng.randint(0, 999_999):06d}"


def generate(path: Path, rows: int, seed: int = 2026) -> None:
    rng = random.Random(seed)
    recent: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, delimiter=";")
        out.writerow(["référence", "prénom", "nom", "téléphone", "langue", "ville"])
        for i in range(rows):
            roll = rng.random()
            if roll < 0.01 and recent:
                phone = rng.choice(recent)
            elif roll < 0.02:
                phone = rng.choice(["123", "06 12", "n/a", "0000000000", "+33 1"])
            elif roll < 0.25:
                phone = _be_number(rng)
            else:
                phone = _fr_number(rng)
            if i % 97 == 0:
                recent = [*recent[-50:], phone]
            out.writerow([f"R{i:07d}", rng.choice(FIRST), rng.choice(LAST), phone,
                          "fr" if rng.random() < 0.9 else "nl", rng.choice(CITIES)])


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as fh:
                ppid = 0
                for line in fh:
                    if line.startswith("PPid:"):
                        ppid = int(line.split()[1])
                    elif line.startswith("VmRSS:"):
                        rss[int(entry)] = int(line.split()[1])
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_measured(cmd: list[str],
                 env: dict[str, str]) -> tuple[float, int, int, str, float]:
    """Run ``cmd``; return wall seconds, its own ru_maxrss (KiB, from wait4), the sampled
    peak of it plus its descendants (KiB), its standard output, and the CPU seconds used
    by it and its (waited-for) worker processes."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    streams: dict[str, str] = {}
    readers = [threading.Thread(target=lambda n=n, s=s: streams.__setitem__(n, s.read()))
               for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for reader in readers:
        reader.start()
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kib(proc.pid))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for reader in readers:
        reader.join()
    stop.set()
    sampler.join()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{streams['err']}")
    return (wall, usage.ru_maxrss, max(peak, usage.ru_maxrss), streams["out"].strip(),
            usage.ru_utime + usage.ru_stime)


def admin(db: Path, *args: str, env: dict[str, str]) -> None:
    subprocess.run([str(ADMIN), "--db", str(db), *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def fresh_db(db: Path, env: dict[str, str]) -> None:
    admin(db, "init", env=env)
    admin(db, "client", "add", "Bench", env=env)
    admin(db, "campaign", "create", SLUG, "--client", "Bench", "--type", "survey",
          "--audience", "consumer", "--country", "FR", "--languages", "fr,nl", env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes for the check (default: automatic)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep the files")
    args = parser.parse_args()
    if args.keep is None:
        with tempfile.TemporaryDirectory(prefix="cellcall-bench-") as scratch:
            run(args, Path(scratch))  # the files (about 500 MB for 1M rows) go with it
    else:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args, args.keep)


def run(args: argparse.Namespace, workdir: Path) -> None:
    from cellcall.services.imports import WRITE_CACHE_KIB

    env = dict(os.environ, CELLCALL_DATA_DIR=str(workdir / "data-dir"), CELLCALL_LANG="en")
    env.pop("CELLCALL_DB", None)
    env.pop("CELLCALL_CONFIG", None)
    if args.workers is not None:
        env["CELLCALL_IMPORT_WORKERS"] = str(args.workers)
    csv_path = workdir / "contacts.csv"
    print(f"cpus: {os.cpu_count()}  rows: {args.rows:,}  work dir: {workdir}")
    t = time.perf_counter()
    generate(csv_path, args.rows)
    print(f"generated {csv_path.stat().st_size / 1e6:.1f} MB in "
          f"{time.perf_counter() - t:.1f} s")

    db = workdir / "import.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    fresh_db(db, env)
    load_before = os.getloadavg()[0]
    wall, maxrss, tree, out, cpu = run_measured(
        [str(ADMIN), "--db", str(db), "contacts", "import", SLUG, str(csv_path)], env)
    print(f"import: {out}")

    floor_db = workdir / "floor.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{floor_db}{suffix}").unlink(missing_ok=True)
    fresh_db(floor_db, env)
    floor_wall, floor_rss, _floor_tree, _out, floor_cpu = run_measured(
        [sys.executable, "-c", FLOOR_CODE, str(floor_db), str(csv_path), "1",
         str(WRITE_CACHE_KIB)], env)

    rows = args.rows
    print(f"cellcall import : {wall:6.1f} s  {rows / wall:10,.0f} rows/s  "
          f"peak {maxrss / 1024:5.0f} MB (import process), "
          f"{tree / 1024:5.0f} MB (with workers, sampled)  CPU {cpu:6.1f} s")
    print(f"floor (sqlite3) : {floor_wall:6.1f} s  {rows / floor_wall:10,.0f} rows/s  "
          f"peak {floor_rss / 1024:5.0f} MB  CPU {floor_cpu:6.1f} s")
    print(f"ratio           : {wall / floor_wall:.2f} x the floor's time")
    print(f"machine load    : {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
          f"(1-minute load average; other work on the machine slows the figures)")
    print(f"target          : <= 60 s and <= 500 MB: "
          f"{'met' if wall <= 60 and tree / 1024 <= 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
