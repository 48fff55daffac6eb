"""Several processes write audited rows to the same SQLite file at once: no error reaches
them, every row is there, and the audit chain stays one unbroken, gap-free chain."""

from __future__ import annotations

import itertools
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy.engine import Engine

from cellcall.db import read_session
from cellcall.services import audit
from foundation_support import audit_rows

PROCESSES = 4
WRITES = 50

WORKER = r"""
import sys, time
from pathlib import Path
from cellcall.db import make_engine, run_write
from cellcall.models.users import StationCreate
from cellcall.services import stations
from cellcall.services.actors import Actor
from cellcall.models.users import Role

db, tag, go, count = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
engine = make_engine(f"sqlite:///{db}")
actor = Actor(login=f"worker-{tag}", role=Role.ADMIN)
Path(f"{go}.{tag}.ready").touch()
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.002)
for i in range(count):
    run_write(engine, lambda s, i=i: stations.add_station(
        session=s, actor=actor, data=StationCreate(name=f"{tag}-{i:03d}")))
    time.sleep(0.003)  # a station does other work between writes
print("done", tag)
"""


def test_four_processes_fifty_audited_writes_each(engine: Engine, db_path: Path,
                                                   tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = dict(os.environ)
    procs = [subprocess.Popen(
        [sys.executable, "-c", WORKER, str(db_path), f"w{n}", str(go), str(WRITES)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for n in range(PROCESSES)]
    try:
        deadline = time.monotonic() + 60
        while (len(list(tmp_path.glob("go.*.ready"))) < PROCESSES
               and time.monotonic() < deadline):
            time.sleep(0.01)
        go.touch()  # all start writing together
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert out.startswith("done"), out
        assert "Traceback" not in err and "locked" not in err

    rows = audit_rows(db_path)
    assert [r[0] for r in rows] == list(range(1, PROCESSES * WRITES + 1))
    per_worker = {f"worker-w{n}": 0 for n in range(PROCESSES)}
    for _id, actor_label, action, _target, _details in rows:
        assert action == "station.add"
        per_worker[actor_label] += 1
    assert set(per_worker.values()) == {WRITES}
    switches = sum(1 for a, b in itertools.pairwise(rows) if a[1] != b[1])
    assert switches >= PROCESSES, "the writers ran one after the other, not together"
    with read_session(engine) as session:
        result = audit.verify(session=session)
    assert result.ok, result
    assert result.rows_checked == PROCESSES * WRITES
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM stations").fetchone()[0] == PROCESSES * WRITES
    conn.close()
