"""Do-not-call lists: numbers that must never be called.

Entries are (E.164 number, source): a national opposition list ('bloctel', 'ne-m-appelez-plus'), or
people who asked ('callee-request'). Each file import is recorded in ``dnc_imports`` so that
the freshness of a national list can be judged from its last ``imported_at`` (Belgium:
the list must be at most a few days old). A file is checked (parsed) before the write
transaction, so that the write lock is held only while rows are inserted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.models.contacts import DoNotCallEntry, DoNotCallImport
from cellcall.models.users import Role
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role
from cellcall.services.campaigns import validate_country
from cellcall.services.imports import FIELD_ALIASES, bind_value, bulk_insert
from cellcall.services.phones import InvalidPhoneNumber, is_e164, mask, parse_e164
from cellcall.services.tabular import normalize_header, open_table

DEFAULT_SOURCE = "manual"
CALLEE_REQUEST_SOURCE = "callee-request"
MAX_REPORTED_INVALID = 20
_INSERT_CHUNK = 5000
_PROGRESS_EVERY = 5000

ProgressFn = Callable[[str, int, int | None], None]


def is_on_dnc(session: Session, e164: str) -> bool:
    """True when ``e164`` is on any do-not-call list (one indexed look-up)."""
    found = session.scalar(
        select(col(DoNotCallEntry.id)).where(col(DoNotCallEntry.phone_e164) == e164).limit(1))
    return found is not None


def numbers_on_dnc(session: Session, numbers: Iterable[str]) -> set[str]:
    """Those of ``numbers`` that are on a do-not-call list (indexed, in batches)."""
    wanted = sorted(set(numbers))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        batch = wanted[start:start + 500]
        found.update(session.scalars(
            select(col(DoNotCallEntry.phone_e164)).where(
                col(DoNotCallEntry.phone_e164).in_(batch))))
    return found


def _clean_source(source: str) -> str:
    name = source.strip()
    if not name or len(name) > 100:
        raise ValidationError(_("A do-not-call source name needs 1 to 100 characters."))
    return name


def add_number(*, session: Session, actor: Actor, e164: str, source: str) -> bool:
    """Put one number on the list ``source`` (e.g. a callee asked); False if already there."""
    require_role(actor, [Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN])
    if not is_e164(e164):
        raise ValidationError(_("Not an E.164 phone number."))
    name = _clean_source(source)
    exists = session.scalar(select(col(DoNotCallEntry.id)).where(
        col(DoNotCallEntry.phone_e164) == e164, col(DoNotCallEntry.source) == name))
    if exists is not None:
        return False
    session.add(DoNotCallEntry(phone_e164=e164, source=name))
    session.flush()
    # The audit log names the number masked: the entry itself holds it in full.
    audit.record(session=session, actor=actor, action="dnc.add", target=mask(e164),
                 details={"source": name})
    return True


@dataclass(frozen=True)
class InvalidLine:
    line: int
    text: str
    reason: str


@dataclass
class CheckedDnc:
    """A parsed do-not-call file: its distinct numbers and what could not be read."""

    file: str
    rows_read: int = 0
    valid: int = 0
    numbers: set[int] = field(default_factory=set)  # E.164 digits
    invalid: int = 0
    invalid_lines: list[InvalidLine] = field(default_factory=list)


def check_dnc_rows(*, rows: Iterable[tuple[int, str]], default_region: str,
                   file: str = "", progress: ProgressFn | None = None) -> CheckedDnc:
    """Parse (line, raw number) rows; numbers without '+' belong to ``default_region``."""
    region = validate_country(default_region)
    checked = CheckedDnc(file=file)
    for line, raw in rows:
        checked.rows_read += 1
        try:
            e164, _zones = parse_e164(raw, region)
        except InvalidPhoneNumber as exc:
            checked.invalid += 1
            if len(checked.invalid_lines) < MAX_REPORTED_INVALID:
                checked.invalid_lines.append(InvalidLine(line, raw.strip(), str(exc)))
            continue
        checked.valid += 1
        checked.numbers.add(int(e164[1:]))
        if progress is not None and checked.rows_read % _PROGRESS_EVERY == 0:
            progress("read", checked.rows_read, None)
    return checked


def _has_digit(text: str) -> bool:
    return any(c.isdigit() for c in text)


def read_dnc_file(path: Path) -> Iterator[tuple[int, str]]:
    """(line, raw number) from a text file (one number a line) or a table with a phone
    column. A first line without any digit is taken as a header."""
    reader = open_table(path)
    aliases = set(FIELD_ALIASES["phone"])
    phone_columns = [i for i, name in enumerate(reader.header)
                     if normalize_header(name) in aliases]
    if phone_columns:
        column = phone_columns[0]
        for line, cells in reader.rows():
            yield line, cells[column] if column < len(cells) else ""
        return
    joiner = reader.format.delimiter or ","
    first_line = joiner.join(reader.header)
    if len(reader.header) > 1 and not _has_digit(first_line):
        raise ValidationError(_(
            "No phone column found in {name} (expected a column named e.g. phone or "
            "téléphone, or one number a line).").format(name=path.name))
    if _has_digit(first_line):
        yield reader.header_line, first_line
    for line, cells in reader.rows():
        yield line, joiner.join(cells)


def check_dnc_file(*, path: Path, default_region: str,
                   progress: ProgressFn | None = None) -> CheckedDnc:
    checked = check_dnc_rows(rows=read_dnc_file(path), default_region=default_region,
                             file=path.name, progress=progress)
    if checked.rows_read == 0:
        raise ValidationError(_("The file {name} has no numbers.").format(name=path.name))
    return checked


@dataclass(frozen=True)
class DncImportSummary:
    source: str
    file: str
    rows_read: int
    rows_added: int
    already_listed: int
    repeated: int
    """Valid lines whose number came earlier in the same file."""
    invalid: int
    invalid_lines: tuple[InvalidLine, ...]


def write_dnc(*, session: Session, actor: Actor, checked: CheckedDnc,
              source: str) -> DncImportSummary:
    """Add the checked numbers to list ``source`` and record the import, in the session's
    (write) transaction."""
    require_role(actor, [Role.ADMIN])
    name = _clean_source(source)
    existing = {int(e[1:]) for e in session.scalars(
        select(col(DoNotCallEntry.phone_e164)).where(col(DoNotCallEntry.source) == name))
        if is_e164(e)}
    new = sorted(checked.numbers - existing)
    table = DoNotCallEntry.__table__  # type: ignore[attr-defined]
    connection = session.connection()
    now = utcnow()
    added_at = bind_value(table, "added_at", connection.dialect, now)
    columns = ("phone_e164", "source", "added_at")
    for start in range(0, len(new), _INSERT_CHUNK):
        bulk_insert(connection, table, columns,
                    [(f"+{n}", name, added_at) for n in new[start:start + _INSERT_CHUNK]])
    session.add(DoNotCallImport(source=name, imported_at=now, rows_read=checked.rows_read,
                                rows_added=len(new)))
    session.flush()
    summary = DncImportSummary(
        source=name, file=checked.file, rows_read=checked.rows_read, rows_added=len(new),
        already_listed=len(checked.numbers) - len(new),
        repeated=checked.valid - len(checked.numbers), invalid=checked.invalid,
        invalid_lines=tuple(checked.invalid_lines))
    audit.record(session=session, actor=actor, action="dnc.import", target=name,
                 details={"file": checked.file, "rows_read": summary.rows_read,
                          "added": summary.rows_added, "already_listed": summary.already_listed,
                          "repeated": summary.repeated, "invalid": summary.invalid})
    return summary


def import_dnc(*, session: Session, actor: Actor, rows: Iterable[tuple[int, str]],
               source: str, default_region: str) -> DncImportSummary:
    """Parse ``rows`` and add them, in the session's transaction (small lists; for files,
    ``check_dnc_file`` outside the transaction then ``write_dnc`` keeps the lock short)."""
    require_role(actor, [Role.ADMIN])
    checked = check_dnc_rows(rows=rows, default_region=default_region)
    return write_dnc(session=session, actor=actor, checked=checked, source=source)


def latest_import(*, session: Session, source: str) -> DoNotCallImport | None:
    """The newest import of list ``source`` (to judge its freshness)."""
    return session.scalars(
        select(DoNotCallImport).where(col(DoNotCallImport.source) == source)
        .order_by(col(DoNotCallImport.imported_at).desc()).limit(1)).first()
