"""End to end: the real ``cellcall --demo`` command in a terminal (tmux), the real telephony
engine and the demo's simulated SIP line on 127.0.0.1. The demo operator logs in, calls
one contact, records the outcome, logs out, and Ctrl+Q ends the program.

The screen is read with ``tmux capture-pane``; what happened is read in the database.
The tmux server is a private one (its own socket), killed whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import phonenumbers
import pytest

from cellcall.services.demo import DEMO_PASSWORD

pytestmark = pytest.mark.slow

WIDTH, HEIGHT = 100, 30
EXITED = "cellcall exited with"


class Terminal:
    """One tmux session on a private server, running one command."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            pytest.fail("tmux is not installed (scripts/install.sh --test installs it)")
        self.tmux = tmux
        # A private server on a socket of our own (short path: sockets have a length limit).
        self.socket_dir = Path(tempfile.mkdtemp(prefix="cc-tmux-"))
        self.socket = self.socket_dir / "s"
        # The pane outlives the program so that its exit status can be read.
        script = " ".join(_quote(part) for part in command)
        shell = f'{script}; echo "{EXITED} $?"; sleep 600'
        self.run("new-session", "-d", "-s", "op", "-x", str(WIDTH), "-y", str(HEIGHT),
                 "env", *[f"{k}={v}" for k, v in env.items()], "sh", "-c", shell)

    def run(self, *args: str) -> str:
        done = subprocess.run([self.tmux, "-S", str(self.socket), *args], capture_output=True,
                              text=True, timeout=30, check=True)
        return done.stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "op", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "op", "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "op")

    def wait_for(self, condition: Callable[[str], object], what: str,
                 limit: float = 90.0) -> str:
        """Poll the screen until ``condition(screen)``; ``limit`` only guards a hang."""
        deadline = time.monotonic() + limit
        while True:
            text = self.screen()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"never on screen: {what}\n--- screen ---\n{text}")
            time.sleep(0.2)

    def steady_screen(self, settle: float = 0.4) -> str:
        """The screen once two captures ``settle`` seconds apart are the same."""
        before = self.screen()
        while True:
            time.sleep(settle)
            now = self.screen()
            if now == before:
                return now
            before = now

    def log_in(self, login: str, password: str) -> None:
        """Type a login and a password on the login screen, and press Enter.

        Enter in the login field moves the focus by a message the app handles after the
        keys already queued: keys sent at once can outrun it, and all or part of the
        password lands in the login field (a person typing never does). Then both fields
        are emptied and the login retyped.
        """
        self.wait_for(lambda s: "Password" in s and "Log in" in s, "the login screen")
        for _try in range(3):
            self.type(login)
            self.wait_for(lambda s: login in s, "the login typed")
            self.keys("Enter")
            self.type(password)
            text = self.steady_screen()
            if "•" * len(password) in text and login + password[:1] not in text:
                self.keys("Enter")
                return
            # The focus did reach the password field: empty it, then the login field.
            self.keys("C-u", "BTab", "C-u")
            self.wait_for(lambda s: login not in s and "•" not in s, "both fields emptied")
        raise AssertionError("the password never reached its field")

    def kill(self) -> None:
        subprocess.run([self.tmux, "-S", str(self.socket), "kill-server"], capture_output=True,
                       timeout=30, check=False)
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def _quote(part: str) -> str:
    return "'" + part.replace("'", "'\\''") + "'"


def query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    """A read of the live database (WAL: readers do not disturb the app)."""
    if not db.is_file():
        raise sqlite3.OperationalError("no database yet")  # connecting would create it
    conn = sqlite3.connect(db, timeout=10)
    try:
        return list(conn.execute(sql, args).fetchall())
    finally:
        conn.close()


def wait_db(db: Path, sql: str, *args: object, what: str,
            limit: float = 90.0) -> list[tuple[object, ...]]:
    deadline = time.monotonic() + limit
    while True:
        try:
            rows = query(db, sql, *args)
        except sqlite3.OperationalError:
            rows = []  # the file or its tables are not there yet
        if rows:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"never in the database: {what}")
        time.sleep(0.2)


def processes_using(marker: str) -> list[int]:
    """Our own processes (the app, the simulated line) by a path only this test uses."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[Terminal, Path]]:
    db = tmp_path / "demo.sqlite3"
    exe = Path(sys.executable).parent / "cellcall"
    env = {"CELLCALL_DATA_DIR": str(tmp_path), "CELLCALL_LANG": "en",
           "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "TERM": "xterm-256color"}
    term = Terminal([str(exe), "--demo", "--db", str(db)], env)
    try:
        yield term, db
    finally:
        term.kill()
        # The app's end takes the simulated line with it; wait, then clean up anything left.
        deadline = time.monotonic() + 15
        while processes_using(str(db)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in processes_using(str(db)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


def test_demo_operator_completes_one_contact(terminal: tuple[Terminal, Path]) -> None:
    term, db = terminal
    term.log_in("operateur", DEMO_PASSWORD)
    # Preview: a claimed contact, its number masked.
    attempt_id, contact_id, e164 = wait_db(
        db, "SELECT a.id, a.contact_id, c.phone_e164 FROM call_attempts a "
            "JOIN contacts c ON c.id = a.contact_id WHERE a.state = 'claimed'",
        what="a claimed contact")[0]
    screen = term.wait_for(lambda s: "••" in s and "f5" in s, "the contact in preview")
    assert isinstance(e164, str)
    national = str(phonenumbers.parse(e164).national_number)
    flat = "".join(screen.split())
    assert e164 not in flat and national not in flat

    # Dial: the real engine calls the simulated line, which answers (demo behaviour).
    term.keys("F5")
    wait_db(db, "SELECT 1 FROM call_attempts WHERE id = ? AND answered_at IS NOT NULL",
            attempt_id, what="the call answered")
    term.keys("F6")  # hang up (the simulated callee may have done it first)
    term.wait_for(lambda s: "^s" in s, "the wrap-up form")
    # The third outcome of the campaign: not interested.
    term.keys("Down", "Down", "Enter")
    time.sleep(0.5)
    term.keys("C-s")
    outcome = wait_db(db, "SELECT disposition, contact_id FROM outcomes WHERE attempt_id = ?",
                      attempt_id, what="the outcome")[0]
    assert outcome == ("not_interested", contact_id)
    # The next contact comes up by itself.
    wait_db(db, "SELECT 1 FROM call_attempts WHERE state = 'claimed' AND id != ?",
            attempt_id, what="the next contact claimed")
    term.wait_for(lambda s: "f5" in s and "^s" not in s, "the next contact in preview")

    term.keys("F10")
    term.wait_for(lambda s: "Password" in s and "Log in" in s, "back at the login screen")
    term.keys("C-q")
    term.wait_for(lambda s: f"{EXITED} 0" in s, "the program's end")

    attempt = query(db, "SELECT sip_status, dialed_at, answered_at, ended_at, recording_path "
                        "FROM call_attempts WHERE id = ?", attempt_id)[0]
    assert attempt[0] == 200 and all(attempt[1:4])
    assert attempt[4] and Path(str(attempt[4])).is_file()
    released = query(db, "SELECT result FROM call_attempts WHERE id != ?", attempt_id)
    assert released == [("released",)]  # the next contact was given back at logout
    assert query(db, "SELECT COUNT(*) FROM time_entries WHERE ended_at IS NULL") == [(0,)]
    actions = [row[0] for row in query(
        db, "SELECT action FROM audit_events WHERE actor = 'operateur' ORDER BY id")]
    for action in ("login", "dial", "outcome", "logout"):
        assert action in actions
