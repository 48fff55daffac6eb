"""Contacts import: a client's CSV or XLSX file into a campaign, all or nothing.

Two phases, so that stations are held up only while rows are actually written:

1. **Check** (no write lock): the campaign's existing numbers and the do-not-call list are
   read into sets of integers (the E.164 digits; ~70 bytes a number), then the file is
   streamed in chunks. Each row is converted (phone number parsed with the campaign's
   country as default region, language, consent, custom fields, values made ready for the
   database) in worker processes for large files: phonenumbers costs ~40 µs a number.
   This process keeps only each row's verdict (its number, or why it is refused), decides
   duplicates and do-not-call numbers, and stages the accepted rows: in a scratch SQLite
   file for a SQLite database, else in a pickle spool. Rejected rows go to the rejects
   file (under a temporary name). ``--dry-run`` stops here.
2. **Write** (one ``BEGIN IMMEDIATE`` transaction): for SQLite, one ``INSERT … SELECT``
   from the attached stage (copied inside SQLite, in file order); otherwise executemany
   in chunks; plus one audit row. If contacts or do-not-call entries that collide with
   the file appeared since the check, the transaction is rolled back and the check runs
   again. The rejects file is moved into place only after the commit.

Measured with ``scripts/bench_import.py`` (1,000,000 rows).
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from sqlalchemy import Table, event, func, insert, select
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col

from cellcall import i18n
from cellcall.db import make_engine, read_session, run_write
from cellcall.errors import CellcallError, ValidationError
from cellcall.i18n import _
from cellcall.models.base import utcnow
from cellcall.models.campaigns import Audience, Campaign, CampaignStatus, CampaignType
from cellcall.models.contacts import Contact, ContactStatus, DoNotCallEntry
from cellcall.models.users import Role
from cellcall.services import audit
from cellcall.services.actors import Actor, require_role
from cellcall.services.campaigns import get_campaign
from cellcall.services.languages import normalize_language
from cellcall.services.phones import InvalidPhoneNumber, parse_e164
from cellcall.services.tabular import AtomicCsv, TableReader, normalize_header, open_table

# Campaign types that are telephone solicitation under French law (loi 2025-594): from
# 11 August 2026 a consumer may be called only with prior consent or a current contract.
SOLICITATION_TYPES = frozenset({CampaignType.PROSPECTING, CampaignType.APPOINTMENT,
                                CampaignType.LOYALTY})
DEMO_BEHAVIOURS = ("answer", "busy", "no_answer", "hangup")

# Normalised header names (see tabular.normalize_header) for each field.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "telephone", "tel", "numero", "mobile", "phone_number",
              "telephone_number", "numero_de_telephone", "numero_telephone", "num_tel",
              "n_tel", "portable", "gsm", "cellphone", "mobile_phone", "tel_mobile",
              "telephone_mobile", "tel_portable", "telephone_portable"),
    "first_name": ("first_name", "firstname", "prenom", "given_name"),
    "last_name": ("last_name", "lastname", "nom", "surname", "nom_de_famille", "family_name"),
    "company": ("company", "societe", "entreprise", "raison_sociale", "organisation",
                "organization", "company_name"),
    # Kept in its own column: the security office excludes postal-code areas.
    "postal_code": ("postal_code", "code_postal", "cp", "postcode", "post_code", "zip",
                    "zip_code", "zipcode", "codepostal"),
    "language": ("language", "langue", "lang"),
    "external_ref": ("external_ref", "reference", "ref", "id", "identifiant",
                     "external_reference"),
    "consent_at": ("consent_at", "consentement_date", "date_consentement", "consent_date",
                   "date_du_consentement"),
    "consent_source": ("consent_source", "source_consentement", "source_du_consentement"),
    "consent_wording": ("consent_wording", "texte_consentement", "texte_du_consentement",
                        "consent_text"),
    "contract": ("contract", "contrat", "has_contract", "sous_contrat"),
    "demo_behaviour": ("demo_behaviour", "demo_behavior", "comportement_demo"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in FIELD_ALIASES.items() for alias in aliases}

_TRUE_WORDS = frozenset({"yes", "oui", "1", "true", "vrai", "y", "o", "x"})
_FALSE_WORDS = frozenset({"", "no", "non", "0", "false", "faux", "n"})
_DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d-%m-%Y",
                 "%d.%m.%Y", "%d/%m/%y")

# Columns written by the import, in the order of the spooled tuples.
INSERT_COLUMNS = (
    "campaign_id", "external_ref", "first_name", "last_name", "company", "postal_code",
    "phone_e164", "time_zones", "language", "custom_fields", "consent_at", "consent_source",
    "consent_wording", "has_contract", "status", "attempts", "demo_behaviour", "created_at",
)
_PHONE_AT = INSERT_COLUMNS.index("phone_e164")
_CHUNK_ROWS = 2000
# Below this many rows, starting worker processes costs more than it saves.
PARALLEL_FROM_ROWS = 20_000
_CHECK_ATTEMPTS = 3

ProgressFn = Callable[[str, int, int | None], None]
"""progress(phase, rows done, rows expected or None); phase is 'check' or 'write'."""


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """Which column holds what: phone columns in priority order, fields, custom fields."""

    phone: tuple[int, ...]
    fields: tuple[tuple[str, int], ...]
    custom: tuple[tuple[str, int], ...]

    def index(self, name: str) -> int:
        return dict(self.fields).get(name, -1)


def build_layout(header: list[str]) -> Layout:
    phone: list[int] = []
    fields: dict[str, int] = {}
    custom: dict[str, int] = {}
    for index, raw in enumerate(header):
        label = raw.strip()
        if not label:
            continue  # a column without a name carries nothing we can name
        name = _ALIAS_TO_FIELD.get(normalize_header(label))
        if name == "phone":
            phone.append(index)
        elif name is not None:
            if name in fields:
                raise ValidationError(_(
                    "Columns '{a}' and '{b}' both mean '{field}'; keep one of them.").format(
                        a=header[fields[name]].strip(), b=label, field=name))
            fields[name] = index
        else:
            key = label
            suffix = 2
            while key in custom:
                key = f"{label} ({suffix})"
                suffix += 1
            custom[key] = index
    if not phone:
        raise ValidationError(_(
            "No phone column found (expected a column named e.g. phone, téléphone, tel, "
            "numéro or mobile)."))
    return Layout(tuple(phone), tuple(fields.items()), tuple(custom.items()))


# --------------------------------------------------------------------------- rows


@lru_cache(maxsize=1)
def _language_names() -> dict[str, str]:
    """Language names in French and English ('russe', 'turkish') -> ISO 639-1 code."""
    names: dict[str, str] = {}
    for locale in ("en", "fr"):
        for code, name in Locale.parse(locale).languages.items():
            if len(code) == 2:
                names.setdefault(normalize_header(name), code)
    return names


@lru_cache(maxsize=4096)
def resolve_language(raw: str) -> str | None:
    """An ISO 639-1 code from a code ('FR', 'fr-BE') or a name ('Russe', 'Turkish')."""
    code = normalize_language(raw)
    if code is not None and len(code) == 2:
        return code
    return _language_names().get(normalize_header(raw))


def parse_consent_date(raw: str, zone: ZoneInfo) -> datetime:
    """ISO 8601 or French day-first dates; a date without offset is local to ``zone``."""
    text = raw.strip()
    value: datetime | None = None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                value = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if value is None:
        raise ValueError(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def parse_yes_no(raw: str) -> bool | None:
    word = raw.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    return None


@dataclass(frozen=True)
class RowContext:
    """What converting a row needs besides the row (sent once to each worker)."""

    campaign_id: int
    default_region: str
    default_language: str
    site_timezone: str
    dialect_url: str
    created_at: datetime
    solicitation: bool
    ui_language: str


Converted = tuple[int, bool, tuple[Any, ...]] | str
"""(E.164 digits as int, lacks consent and contract, insert values) or a reject reason."""

Verdict = tuple[int, bool] | str
"""(E.164 digits as int, lacks consent and contract) or a reject reason."""

ChunkResult = tuple[list[Verdict], bytes]
"""A verdict for every row of a chunk, and the converted rows' insert values, pickled (the
checking process only needs the verdicts: it passes the values on to the spool as they
are, without unpickling them)."""


class RowConverter:
    """Turns the cells of one row into the values to insert, or a reason to reject it.

    This runs once a row (a million times for a big file), so it avoids per-row
    look-ups: a row is padded once, and a missing column points at the padding.
    """

    def __init__(self, layout: Layout, context: RowContext, dialect: Dialect,
                 width: int) -> None:
        self.layout = layout
        self.context = context
        self.width = width
        try:
            self.zone = ZoneInfo(context.site_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self.zone = ZoneInfo("UTC")
        self._phone = tuple(i for i in layout.phone if i < width)
        self._pad = [""] * (width + 1)

        def at(name: str) -> int:
            index = layout.index(name)
            return index if 0 <= index < width else width  # ``width``: the padding cell

        self._at = {name: at(name) for name in FIELD_ALIASES if name != "phone"}
        self._custom = tuple((n, i) for n, i in layout.custom if i < width)
        table = Contact.__table__  # type: ignore[attr-defined]
        self._limits = tuple(
            (name, self._at[name], getattr(table.c[name].type, "length", None) or 0)
            for name in ("external_ref", "first_name", "last_name", "company",
                         "postal_code", "consent_source"))
        self._longest = min(limit for _n, _i, limit in self._limits if limit) or 200
        processors = {name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                      for name in INSERT_COLUMNS}
        identity: Callable[[Any], Any] = lambda v: v  # noqa: E731
        self._json = processors["custom_fields"] or identity
        self._date = processors["consent_at"] or identity
        tz_json = processors["time_zones"] or identity
        self._tz_json = lru_cache(maxsize=1024)(tz_json)
        created = processors["created_at"] or identity
        self._created = created(context.created_at)
        self._empty_custom = self._json({})
        boolean = processors["has_contract"] or identity
        self._false = boolean(False)
        self._true = boolean(True)
        self._future_limit = context.created_at + timedelta(days=1)
        self._new = ContactStatus.NEW.value

    def _too_long(self, cells: list[str]) -> str | None:
        for name, index, limit in self._limits:
            if limit and len(cells[index].strip()) > limit:
                return _("{field} longer than {n} characters").format(field=name, n=limit)
        return None

    def convert(self, cells: list[str]) -> Converted:
        if len(cells) != self.width + 1:
            cells = (cells + self._pad)[:self.width + 1]
        raw_phone = ""
        for index in self._phone:
            if cells[index].strip():
                raw_phone = cells[index]
                break
        if not raw_phone:
            return _("missing phone number")
        try:
            e164, zones = parse_e164(raw_phone, self.context.default_region)
        except InvalidPhoneNumber as exc:
            return str(exc)
        at = self._at
        ref = cells[at["external_ref"]].strip()
        first = cells[at["first_name"]].strip()
        last = cells[at["last_name"]].strip()
        company = cells[at["company"]].strip()
        postal_code = cells[at["postal_code"]].strip()
        source = cells[at["consent_source"]].strip()
        if max(len(ref), len(first), len(last), len(company), len(postal_code),
               len(source)) > self._longest:
            too_long = self._too_long(cells)
            if too_long is not None:
                return too_long
        raw_language = cells[at["language"]].strip()
        if raw_language:
            language = resolve_language(raw_language)
            if language is None:
                return _("unknown language code '{code}'").format(code=raw_language[:40])
        else:
            language = self.context.default_language
        consent_at: datetime | None = None
        raw_consent = cells[at["consent_at"]].strip()
        if raw_consent:
            try:
                consent_at = parse_consent_date(raw_consent, self.zone)
            except (ValueError, OverflowError):
                return _("unreadable consent date '{value}'").format(value=raw_consent[:40])
            if consent_at > self._future_limit:
                return _("consent date in the future")
        contract = parse_yes_no(cells[at["contract"]])
        if contract is None:
            return _("contract: expected yes or no")
        behaviour: str | None = cells[at["demo_behaviour"]].strip()
        if behaviour:
            behaviour = behaviour.lower().replace("-", "_").replace(" ", "_")
            if behaviour not in DEMO_BEHAVIOURS:
                return _("unknown demo behaviour '{value}'").format(value=behaviour[:40])
        else:
            behaviour = None
        custom = {name: value for name, index in self._custom
                  if (value := cells[index].strip())}
        row = (
            self.context.campaign_id, ref or None, first, last, company, postal_code, e164,
            self._tz_json(zones), language,
            self._json(custom) if custom else self._empty_custom,
            self._date(consent_at) if consent_at is not None else None,
            source or None, cells[at["consent_wording"]].strip() or None,
            self._true if contract else self._false, self._new, 0, behaviour, self._created,
        )
        lacks_consent = self.context.solicitation and consent_at is None and not contract
        return int(e164[1:]), lacks_consent, row

    def convert_chunk(self, chunk: list[tuple[int, list[str]]]) -> ChunkResult:
        convert = self.convert
        verdicts: list[Verdict] = []
        rows: list[tuple[Any, ...]] = []
        for _line, cells in chunk:
            result = convert(cells)
            if isinstance(result, str):
                verdicts.append(result)
            else:
                verdicts.append((result[0], result[1]))
                rows.append(result[2])
        return verdicts, pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


def _dialect_from_url(url: str) -> Dialect:
    dialect: Dialect = make_url(url).get_dialect()()
    return dialect


# Worker processes (spawned, so nothing of the parent's database connections is inherited).
_WORKER: RowConverter | None = None


def _init_worker(layout: Layout, context: RowContext, width: int) -> None:
    global _WORKER
    i18n.set_language(context.ui_language)
    _WORKER = RowConverter(layout, context, _dialect_from_url(context.dialect_url), width)


def _convert_in_worker(chunk: list[tuple[int, list[str]]]) -> ChunkResult:
    assert _WORKER is not None
    return _WORKER.convert_chunk(chunk)


def _chunks(rows: Iterable[tuple[int, list[str]]],
            size: int) -> Iterator[list[tuple[int, list[str]]]]:
    chunk: list[tuple[int, list[str]]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _converted_chunks(
    chunks: Iterator[list[tuple[int, list[str]]]], converter: RowConverter, workers: int,
) -> Iterator[tuple[list[tuple[int, list[str]]], ChunkResult]]:
    """Convert chunks in order, in ``workers`` processes (0: in this process). At most a
    few chunks are in flight, so memory stays flat whatever the file's size."""
    if workers <= 0:
        for chunk in chunks:
            yield chunk, converter.convert_chunk(chunk)
        return
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker,
        initargs=(converter.layout, converter.context, converter.width))
    pending: deque[tuple[list[tuple[int, list[str]]], Future[ChunkResult] | None]] = deque()
    broken = False  # the workers died or could not start: carry on in this process

    def ready() -> Iterator[tuple[list[tuple[int, list[str]]], ChunkResult]]:
        nonlocal broken
        done_chunk, future = pending.popleft()
        if future is not None and not broken:
            try:
                yield done_chunk, future.result()
                return
            except BrokenProcessPool:
                broken = True
        yield done_chunk, converter.convert_chunk(done_chunk)

    try:
        for chunk in chunks:
            future: Future[ChunkResult] | None = None
            if not broken:
                try:
                    future = pool.submit(_convert_in_worker, chunk)
                except BrokenProcessPool:
                    broken = True
            pending.append((chunk, future))
            while pending and (broken or len(pending) >= workers * 3
                               or (pending[0][1] is not None and pending[0][1].done())):
                yield from ready()
        while pending:
            yield from ready()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def auto_workers(estimated_rows: int | None) -> int:
    cpus = _usable_cpus()
    if cpus < 2 or estimated_rows is None or estimated_rows < PARALLEL_FROM_ROWS:
        return 0
    return min(cpus, 4)


# --------------------------------------------------------------------------- check


@dataclass
class Snapshot:
    """What the check compares the file with, read in one short read transaction."""

    campaign_id: int
    slug: str
    country: str
    languages: tuple[str, ...]
    solicitation: bool
    existing: set[int]
    dnc: set[int]
    contacts_max_id: int
    dnc_max_id: int
    dialect_url: str


def _digits_key(e164: str) -> int | None:
    try:
        return int(e164[1:])
    except ValueError:
        return None


def _number_keys(rows: Iterable[str]) -> set[int]:
    keys: set[int] = set()
    for e164 in rows:
        key = _digits_key(e164)
        if key is not None:
            keys.add(key)
    return keys


def is_solicitation(campaign: Campaign) -> bool:
    """French consumer campaigns that sell or book: loi 2025-594 applies."""
    return (campaign.country == "FR" and campaign.audience == Audience.CONSUMER
            and campaign.type in SOLICITATION_TYPES)


def _dialect_url(session: Session) -> str:
    dialect = session.get_bind().dialect
    return f"{dialect.name}+{dialect.driver}://"


def load_snapshot(*, session: Session, actor: Actor, slug: str) -> Snapshot:
    """The campaign (open), its numbers and the do-not-call numbers."""
    require_role(actor, [Role.ADMIN])
    campaign = get_campaign(session=session, slug=slug)
    if campaign.status == CampaignStatus.CLOSED:
        raise ValidationError(_(
            "Campaign '{slug}' is closed; contacts cannot be imported into it.").format(
                slug=slug))
    assert campaign.id is not None
    existing = _number_keys(session.scalars(
        select(col(Contact.phone_e164)).where(col(Contact.campaign_id) == campaign.id)))
    dnc = _number_keys(session.scalars(select(col(DoNotCallEntry.phone_e164)).distinct()))
    contacts_max = session.scalar(
        select(func.max(Contact.id)).where(col(Contact.campaign_id) == campaign.id))
    dnc_max = session.scalar(select(func.max(DoNotCallEntry.id)))
    return Snapshot(
        campaign_id=campaign.id, slug=campaign.slug, country=campaign.country,
        languages=tuple(campaign.languages) or ("fr",),
        solicitation=is_solicitation(campaign), existing=existing, dnc=dnc,
        contacts_max_id=int(contacts_max or 0), dnc_max_id=int(dnc_max or 0),
        dialect_url=_dialect_url(session))


@dataclass(frozen=True)
class ImportSummary:
    campaign: str
    file: str
    rows_read: int
    imported: int
    rejected: int
    duplicate: int
    dnc: int
    without_consent: int | None
    """Contacts imported without consent nor contract (solicitation campaigns), else None."""
    dry_run: bool
    rejects_file: Path | None
    workers: int = 0
    """Worker processes used for the check (0: the check ran in this process)."""
    check_seconds: float = 0.0
    write_seconds: float = 0.0

    def audit_details(self) -> dict[str, Any]:
        return {"file": self.file, "rows_read": self.rows_read, "imported": self.imported,
                "rejected": self.rejected, "duplicate": self.duplicate, "dnc": self.dnc,
                "without_consent": self.without_consent}


class _Spool:
    """Accepted rows in an anonymous temporary file (gone on close): for each chunk, the
    pickled rows as the converter made them, and the positions of those to leave out.
    Any database can be written from it (executemany in chunks)."""

    def __init__(self) -> None:
        self._fh: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.rows = 0

    def add(self, rows_blob: bytes, converted: int, left_out: list[int]) -> None:
        if converted > len(left_out):
            pickle.dump((rows_blob, left_out), self._fh, protocol=pickle.HIGHEST_PROTOCOL)
            self.rows += converted - len(left_out)

    def chunks(self) -> Iterator[list[tuple[Any, ...]]]:
        self._fh.seek(0)
        while True:
            try:
                # Our own file and our own workers' output: safe to unpickle.
                blob, left_out = pickle.load(self._fh)  # noqa: S301
            except EOFError:
                return
            yield _kept_rows(blob, left_out)

    def close(self) -> None:
        self._fh.close()


def _kept_rows(blob: bytes, left_out: list[int]) -> list[tuple[Any, ...]]:
    # Our own workers' output: safe to unpickle.
    rows: list[tuple[Any, ...]] = pickle.loads(blob)  # noqa: S301
    if left_out:
        skip = set(left_out)
        rows = [row for i, row in enumerate(rows) if i not in skip]
    return rows


STAGE_SCHEMA = "cellcall_stage"


class _SqliteStage:
    """Accepted rows in a scratch SQLite file (in a temporary folder, removed on close),
    in file order. A SQLite database then copies them with one ``INSERT … SELECT`` from
    the attached file: the copy runs inside SQLite, about three times faster than an
    executemany from Python, so the write lock is held that much less."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="cellcall-import-")
        self.path = Path(self._dir.name) / "stage.sqlite3"
        self._db = sqlite3.connect(self.path, isolation_level=None)
        # A scratch file: no journal, no syncing.
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(f"CREATE TABLE rows ({', '.join(INSERT_COLUMNS)})")
        self._insert = f"INSERT INTO rows VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
        self.rows = 0

    def add(self, rows_blob: bytes, converted: int, left_out: list[int]) -> None:
        if converted <= len(left_out):
            return
        rows = _kept_rows(rows_blob, left_out)
        self._db.execute("BEGIN")
        self._db.executemany(self._insert, rows)
        self._db.execute("COMMIT")
        self.rows += len(rows)

    def chunks(self, size: int = 5000) -> Iterator[list[tuple[Any, ...]]]:
        cursor = self._db.execute("SELECT * FROM rows ORDER BY rowid")
        while batch := cursor.fetchmany(size):
            yield batch

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


@dataclass
class CheckedImport:
    """The result of the check: counts, the spooled rows and the pending rejects file."""

    snapshot_campaign_id: int
    slug: str
    file: str
    contacts_max_id: int
    dnc_max_id: int
    rows_read: int = 0
    rejected: int = 0
    duplicate: int = 0
    dnc: int = 0
    without_consent: int | None = None
    spool: _Spool | _SqliteStage = field(default_factory=_Spool)
    rejects: AtomicCsv | None = None
    workers: int = 0
    check_seconds: float = 0.0

    def summary(self, *, dry_run: bool, write_seconds: float = 0.0) -> ImportSummary:
        return ImportSummary(
            campaign=self.slug, file=self.file, rows_read=self.rows_read,
            imported=self.spool.rows, rejected=self.rejected, duplicate=self.duplicate,
            dnc=self.dnc, without_consent=self.without_consent, dry_run=dry_run,
            rejects_file=self.rejects.target if self.rejects else None,
            workers=self.workers, check_seconds=self.check_seconds,
            write_seconds=write_seconds)

    def commit_rejects(self) -> None:
        if self.rejects is not None:
            self.rejects.commit()

    def close(self) -> None:
        self.spool.close()
        if self.rejects is not None:
            self.rejects.discard()


def check_file(*, snapshot: Snapshot, path: Path, rejects_path: Path | None = None,
               progress: ProgressFn | None = None, site_timezone: str = "Europe/Paris",
               workers: int | None = None, sqlite_stage: bool | None = None) -> CheckedImport:
    """Read and check the whole file; write nothing to the database.

    Accepted rows are kept in a scratch SQLite file when the database is SQLite (or
    ``sqlite_stage`` says so), else in a pickle spool that any database can be written from.
    """
    started = time.perf_counter()
    if rejects_path is not None and rejects_path.resolve() == path.resolve():
        raise ValidationError(_("The rejects file must not be the imported file."))
    reader: TableReader = open_table(path)
    layout = build_layout(reader.header)
    if sqlite_stage is None:
        sqlite_stage = snapshot.dialect_url.startswith("sqlite")
    checked = CheckedImport(snapshot.campaign_id, snapshot.slug, path.name,
                            snapshot.contacts_max_id, snapshot.dnc_max_id,
                            without_consent=0 if snapshot.solicitation else None,
                            spool=_SqliteStage() if sqlite_stage else _Spool())
    try:
        if rejects_path is not None:
            checked.rejects = AtomicCsv(rejects_path, delimiter=reader.format.delimiter or ";")
            checked.rejects.writerow([_("line"), _("reason"), *reader.header])
        context = RowContext(
            campaign_id=snapshot.campaign_id, default_region=snapshot.country,
            default_language=snapshot.languages[0], site_timezone=site_timezone,
            dialect_url=snapshot.dialect_url, created_at=utcnow(),
            solicitation=snapshot.solicitation, ui_language=i18n.current_language())
        converter = RowConverter(layout, context, _dialect_from_url(snapshot.dialect_url),
                                 len(reader.header))
        checked.workers = auto_workers(reader.estimated_rows) if workers is None else workers
        _run_check(checked, snapshot, reader, converter, checked.workers, progress)
        checked.check_seconds = time.perf_counter() - started
    except BaseException:
        checked.close()
        raise
    if checked.rows_read == 0:
        checked.close()
        raise ValidationError(_("The file {name} has no data rows.").format(name=path.name))
    return checked


def _run_check(checked: CheckedImport, snapshot: Snapshot, reader: TableReader,
               converter: RowConverter, workers: int, progress: ProgressFn | None) -> None:
    seen: set[int] = set()
    existing, dnc = snapshot.existing, snapshot.dnc
    reasons = {"duplicate_file": _("duplicate within the file"),
               "duplicate_campaign": _("already in the campaign"),
               "dnc": _("on the do-not-call list")}
    width = len(reader.header)
    rejects = checked.rejects
    spool = checked.spool
    total = reader.estimated_rows

    def reject(line: int, cells: list[str], reason: str) -> None:
        if rejects is not None:
            padded = cells + [""] * (width - len(cells))
            rejects.writerow([str(line), reason, *padded])

    for chunk, (verdicts, rows_blob) in _converted_chunks(
            _chunks(reader.rows(), _CHUNK_ROWS), converter, workers):
        converted = 0
        left_out: list[int] = []
        for (line, cells), verdict in zip(chunk, verdicts, strict=True):
            checked.rows_read += 1
            if isinstance(verdict, str):
                checked.rejected += 1
                reject(line, cells, verdict)
                continue
            position = converted
            converted += 1
            key, lacks_consent = verdict
            if key in dnc:
                checked.dnc += 1
                reject(line, cells, reasons["dnc"])
            elif key in existing:
                checked.duplicate += 1
                reject(line, cells, reasons["duplicate_campaign"])
            elif key in seen:
                checked.duplicate += 1
                reject(line, cells, reasons["duplicate_file"])
            else:
                seen.add(key)
                if lacks_consent and checked.without_consent is not None:
                    checked.without_consent += 1
                continue
            left_out.append(position)
        spool.add(rows_blob, converted, left_out)
        if progress is not None:
            progress("check", checked.rows_read, total)


# --------------------------------------------------------------------------- write


class StaleCheckError(CellcallError):
    """Contacts or do-not-call entries that collide with the file appeared after the check."""


@lru_cache(maxsize=32)
def _compiled_insert(table: Table, columns: tuple[str, ...],
                     dialect: Dialect) -> tuple[str, bool]:
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    positional = bool(compiled.positional)
    if positional and tuple(compiled.positiontup or ()) != columns:
        raise AssertionError("unexpected insert column order")
    return str(compiled), positional


def bulk_insert(connection: Connection, table: Table, columns: tuple[str, ...],
                rows: list[tuple[Any, ...]]) -> None:
    """executemany of ready-made values (already through the columns' bind processors):
    the SQL comes from SQLAlchemy Core, the per-row work is the driver's alone."""
    if not rows:
        return
    sql, positional = _compiled_insert(table, columns, connection.dialect)
    params: Any = rows if positional else [dict(zip(columns, row, strict=True))
                                           for row in rows]
    connection.exec_driver_sql(sql, params)


def bind_value(table: Table, column: str, dialect: Dialect, value: Any) -> Any:
    """``value`` as the column's type would send it to the database driver."""
    processor = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return processor(value) if processor else value


def _new_keys_since(session: Session, checked: CheckedImport) -> tuple[set[int], set[int]]:
    contacts = _number_keys(session.scalars(
        select(col(Contact.phone_e164)).where(
            col(Contact.campaign_id) == checked.snapshot_campaign_id,
            col(Contact.id) > checked.contacts_max_id)))
    dnc = _number_keys(session.scalars(
        select(col(DoNotCallEntry.phone_e164)).where(col(DoNotCallEntry.id) > checked.dnc_max_id)))
    return contacts, dnc


@dataclass
class _CacheSize:
    """A larger SQLite page cache while a big import writes (index pages stay in memory)."""

    connection: Connection
    kib: int
    previous: Any = None

    def __enter__(self) -> None:
        if self.connection.dialect.name == "sqlite":
            self.previous = self.connection.exec_driver_sql("PRAGMA cache_size").scalar()
            self.connection.exec_driver_sql(f"PRAGMA cache_size = -{int(self.kib)}")

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            self.connection.exec_driver_sql(f"PRAGMA cache_size = {int(self.previous)}")


WRITE_CACHE_KIB = 64 * 1024


def _stage_collides(connection: Connection, numbers: set[int]) -> bool:
    wanted = [f"+{n}" for n in sorted(numbers)]
    for start in range(0, len(wanted), 500):
        batch = wanted[start:start + 500]
        marks = ", ".join("?" * len(batch))
        hit = connection.exec_driver_sql(
            f"SELECT 1 FROM {STAGE_SCHEMA}.rows WHERE phone_e164 IN ({marks}) LIMIT 1",
            tuple(batch)).first()
        if hit is not None:
            return True
    return False


def _copy_from_stage(connection: Connection, table: Table, total: int,
                     progress: ProgressFn | None) -> None:
    """INSERT … SELECT from the attached stage, in file order, in slices for progress."""
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(c) for c in INSERT_COLUMNS)
    sql = (f"INSERT INTO {quote(table.name)} ({columns}) SELECT {columns} "
           f"FROM {STAGE_SCHEMA}.rows WHERE rowid > ? AND rowid <= ? ORDER BY rowid")
    for start in range(0, total, _COPY_SLICE_ROWS):
        connection.exec_driver_sql(sql, (start, start + _COPY_SLICE_ROWS))
        if progress is not None:
            progress("write", min(total, start + _COPY_SLICE_ROWS), total)


_COPY_SLICE_ROWS = 50_000


def write_checked(*, session: Session, actor: Actor, checked: CheckedImport,
                  progress: ProgressFn | None = None,
                  stage_attached: bool = False) -> ImportSummary:
    """Insert the checked rows and the audit row in the session's (write) transaction.

    ``stage_attached``: the session's connection has the scratch SQLite stage attached
    (see ``import_contacts``), so rows are copied inside SQLite.
    """
    require_role(actor, [Role.ADMIN])
    started = time.perf_counter()
    campaign = session.get(Campaign, checked.snapshot_campaign_id)
    if campaign is None or campaign.status == CampaignStatus.CLOSED:
        raise ValidationError(_(
            "Campaign '{slug}' was closed or removed during the import; nothing was written.")
            .format(slug=checked.slug))
    new_contacts, new_dnc = _new_keys_since(session, checked)
    collisions = new_contacts | new_dnc
    connection = session.connection()
    table: Table = Contact.__table__  # type: ignore[attr-defined]
    total = checked.spool.rows
    done = 0
    with _CacheSize(connection, WRITE_CACHE_KIB if total > PARALLEL_FROM_ROWS else 0):
        if stage_attached:
            if collisions and _stage_collides(connection, collisions):
                raise StaleCheckError(_("The campaign changed during the import."))
            _copy_from_stage(connection, table, total, progress)
        for chunk in checked.spool.chunks() if not stage_attached else ():
            if collisions and any(int(row[_PHONE_AT][1:]) in collisions for row in chunk):
                raise StaleCheckError(_("The campaign changed during the import."))
            bulk_insert(connection, table, INSERT_COLUMNS, chunk)
            done += len(chunk)
            if progress is not None:
                progress("write", done, total)
    summary = checked.summary(dry_run=False, write_seconds=time.perf_counter() - started)
    audit.record(session=session, actor=actor, action="contacts.import", target=checked.slug,
                 details=summary.audit_details())
    return summary


def _attached_engine(engine: Engine, stage_path: Path) -> Engine:
    """An engine on the same SQLite file whose connections attach the stage file when
    they open (ATTACH is not allowed inside the write transaction)."""
    with engine.connect() as connection:
        busy_ms = int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar() or 15000)
    attached = make_engine(engine.url.render_as_string(hide_password=False),
                           busy_timeout_ms=busy_ms)

    def attach(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        dbapi_connection.execute(f"ATTACH DATABASE ? AS {STAGE_SCHEMA}", (str(stage_path),))

    event.listen(attached, "connect", attach)
    return attached


def import_contacts(*, engine: Engine, actor: Actor, slug: str, path: Path,
                    dry_run: bool = False, rejects_path: Path | None = None,
                    progress: ProgressFn | None = None, site_timezone: str = "Europe/Paris",
                    workers: int | None = None) -> ImportSummary:
    """Import a CSV or XLSX file into campaign ``slug``: all rows or nothing.

    The check runs outside any write transaction; the write is one short transaction (see
    the module documentation). ``dry_run`` checks and writes nothing but the rejects file.
    """
    require_role(actor, [Role.ADMIN])
    for _attempt in range(_CHECK_ATTEMPTS):
        with read_session(engine) as session:
            snapshot = load_snapshot(session=session, actor=actor, slug=slug)
        checked = check_file(snapshot=snapshot, path=path, rejects_path=rejects_path,
                             progress=progress, site_timezone=site_timezone, workers=workers)
        del snapshot  # the sets are no longer needed: free them before writing
        try:
            if dry_run:
                checked.commit_rejects()
                return checked.summary(dry_run=True)
            stage = checked.spool
            fast = isinstance(stage, _SqliteStage) and engine.dialect.name == "sqlite"

            def write(session: Session, checked: CheckedImport = checked,
                      fast: bool = fast) -> ImportSummary:
                return write_checked(session=session, actor=actor, checked=checked,
                                     progress=progress, stage_attached=fast)

            target = (_attached_engine(engine, stage.path)
                      if isinstance(stage, _SqliteStage) and fast else engine)
            try:
                summary = run_write(target, write)
            except StaleCheckError:
                continue
            except DBAPIError as exc:
                raise CellcallError(_(
                    "The database refused the import ({error}); nothing was written.").format(
                        error=str(exc.orig).splitlines()[0] if exc.orig else exc)) from exc
            finally:
                if target is not engine:
                    target.dispose()
            checked.commit_rejects()
            return summary
        finally:
            checked.close()
    raise CellcallError(_(
        "The campaign's contacts or the do-not-call list kept changing during the import; "
        "nothing was written. Try again."))


def import_in_session(*, session: Session, actor: Actor, slug: str, path: Path,
                      site_timezone: str = "Europe/Paris") -> ImportSummary:
    """Check and write in the caller's write transaction (used by the demo loader, whose
    campaigns are not committed yet). For small files only: the lock is held throughout."""
    snapshot = load_snapshot(session=session, actor=actor, slug=slug)
    checked = check_file(snapshot=snapshot, path=path, site_timezone=site_timezone,
                         workers=0)
    try:
        return write_checked(session=session, actor=actor, checked=checked)
    finally:
        checked.close()
