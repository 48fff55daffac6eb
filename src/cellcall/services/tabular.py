"""Reading client spreadsheets (CSV, XLSX) and writing CSV files Excel opens safely.

Client files come from French spreadsheets: ``;`` or ``,`` delimiters, UTF-8 with or
without a byte-order mark, or Windows-1252. Files are streamed, never loaded whole: a
first pass over the bytes (about 0.1 s for 100 MB) checks the encoding and counts lines
for the progress bar, then rows are read one at a time.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any

from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.services.phones import is_e164

_CHUNK = 1 << 20
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = ";,\t|"
_XLSX_SUFFIXES = (".xlsx", ".xlsm")
_ZIP_MAGIC = b"PK\x03\x04"
# Cells starting with these are formulas (or become one) when a spreadsheet opens the file.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def normalize_header(name: str) -> str:
    """'Prénom ' -> 'prenom', 'Raison sociale' -> 'raison_sociale', 'N° Tél.' -> 'n_tel'."""
    decomposed = unicodedata.normalize("NFKD", name.strip().lower())
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^0-9a-z]+", "_", ascii_only).strip("_")


@dataclass(frozen=True)
class FileFormat:
    kind: str  # "csv" or "xlsx"
    encoding: str | None = None
    delimiter: str | None = None


@dataclass
class TableReader:
    """The header of a table and an iterator over its data rows, as strings."""

    path: Path
    format: FileFormat
    header: list[str]
    header_line: int
    estimated_rows: int | None
    _rows: Iterator[tuple[int, list[str]]]

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line or row number in the file, cells) for every non-blank data row."""
        return self._rows


def _display(path: Path) -> str:
    return path.name


def _is_blank(cells: list[str]) -> bool:
    return not "".join(cells).strip()


def _scan_bytes(path: Path) -> tuple[str, int]:
    """Choose the text encoding and count the lines, in one pass over the bytes."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        else:
            encoding = "utf-8"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        utf_ok = True
        lines = 0
        meaningful = False
        while chunk := fh.read(_CHUNK):
            lines += chunk.count(b"\n")
            if not meaningful and chunk.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
                meaningful = True
            if utf_ok:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf_ok = False
        if utf_ok:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf_ok = False
    if size == 0 or not meaningful:
        raise ValidationError(_("The file {name} is empty.").format(name=_display(path)))
    if utf_ok:
        return encoding, lines + 1
    if encoding != "utf-8":
        raise ValidationError(_("The file {name} is not valid {encoding} text.").format(
            name=_display(path), encoding=encoding.upper()))
    if _decodes(path, "cp1252"):
        return "cp1252", lines + 1
    guessed = _guess_encoding(path)
    if guessed is None:
        raise ValidationError(_(
            "Cannot tell the text encoding of {name}: save it as CSV UTF-8 and try again.")
            .format(name=_display(path)))
    return guessed, lines + 1


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    with path.open("rb") as fh:
        try:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _guess_encoding(path: Path) -> str | None:
    from charset_normalizer import from_path

    best = from_path(path).best()
    if best is None or not _decodes(path, best.encoding):
        return None
    return str(best.encoding)


def _choose_delimiter(sample: str) -> str:
    """csv.Sniffer on a sample, checked against the header line; counting as a fallback."""
    lines = sample.splitlines()
    header = next((line for line in lines if line.strip()), "")
    complete = "\n".join(lines[:-1]) if len(lines) > 1 else sample
    try:
        sniffed = csv.Sniffer().sniff(complete, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        sniffed = ""
    if sniffed and sniffed in header:
        return sniffed
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_text(path: Path, encoding: str) -> IO[str]:
    return path.open("r", encoding=encoding, newline="")


def _csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    with _open_text(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        previous_end = 0
        try:
            for cells in reader:
                start = previous_end + 1
                previous_end = reader.line_num
                if not cells or _is_blank(cells):
                    continue
                yield start, cells
        except csv.Error as exc:
            raise ValidationError(_("{name}, line {line}: unreadable CSV ({error}).").format(
                name=_display(path), line=previous_end + 1, error=exc)) from None


def _open_csv(path: Path) -> TableReader:
    encoding, lines = _scan_bytes(path)
    with _open_text(path, encoding) as fh:
        sample = fh.read(_SNIFF_BYTES)
    delimiter = _choose_delimiter(sample)
    rows = _csv_rows(path, encoding, delimiter)
    first = next(rows, None)
    if first is None:
        raise ValidationError(_("The file {name} is empty.").format(name=_display(path)))
    header_line, header = first
    return TableReader(path, FileFormat("csv", encoding, delimiter), header, header_line,
                       max(0, lines - header_line), rows)


def cell_text(value: Any) -> str:
    """A spreadsheet cell as text: integers without '.0', dates in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _xlsx_error(path: Path, exc: BaseException) -> ValidationError:
    return ValidationError(_("Cannot read {name} as an XLSX workbook ({error}).").format(
        name=_display(path), error=type(exc).__name__))


_XLSX_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, IndexError, AttributeError,
    EOFError, SyntaxError)


def _xlsx_rows(path: Path, workbook: Any, rows: Any,
               first_row: int) -> Iterator[tuple[int, list[str]]]:
    try:
        for number, values in enumerate(rows, start=first_row):
            cells = [cell_text(v) for v in values]
            if _is_blank(cells):
                continue
            yield number, cells
    except _XLSX_ERRORS as exc:
        raise _xlsx_error(path, exc) from None
    finally:
        workbook.close()


def _open_xlsx(path: Path) -> TableReader:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.active or workbook.worksheets[0]
        first_row = int(getattr(sheet, "min_row", 1) or 1)
        estimated = getattr(sheet, "max_row", None)
        raw_rows = sheet.iter_rows(values_only=True)
    except (InvalidFileException, *_XLSX_ERRORS) as exc:
        raise _xlsx_error(path, exc) from None
    rows = _xlsx_rows(path, workbook, raw_rows, first_row)
    first = next(rows, None)
    if first is None:
        raise ValidationError(_("The file {name} is empty.").format(name=_display(path)))
    header_line, header = first
    estimate = max(0, int(estimated) - header_line) if isinstance(estimated, int) else None
    return TableReader(path, FileFormat("xlsx"), header, header_line, estimate, rows)


def open_table(path: Path) -> TableReader:
    """Open a CSV or XLSX file (by its name, or its content when the name says nothing)."""
    if not path.exists():
        raise ValidationError(_("File not found: {path}").format(path=path))
    if not path.is_file():
        raise ValidationError(_("Not a file: {path}").format(path=path))
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise ValidationError(_(
            "{name} is an old Excel .xls file: save it as .xlsx or CSV and try again.")
            .format(name=_display(path)))
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ValidationError(_("Cannot read {path}: {error}").format(
            path=path, error=exc.strerror)) from None
    if suffix in _XLSX_SUFFIXES or magic == _ZIP_MAGIC:
        return _open_xlsx(path)
    return _open_csv(path)


def neutralize_cell(value: str) -> str:
    """Defuse spreadsheet formula injection: a cell that would start a formula gets a
    leading quote. E.164 numbers are left alone: '+' then digits cannot run anything."""
    if value.startswith(_FORMULA_STARTS) and not is_e164(value):
        return "'" + value
    return value


class AtomicCsv:
    """A CSV file written to a temporary name beside its target and moved into place only
    by ``commit()``: a failure never leaves a partial file under the target name."""

    def __init__(self, target: Path, *, delimiter: str = ";") -> None:
        self.target = target
        if target.is_dir():
            raise ValidationError(_("{path} is a folder, not a file name.").format(path=target))
        directory = target.parent if str(target.parent) else Path(".")
        if not directory.is_dir():
            raise ValidationError(_("Folder not found: {path}").format(path=directory))
        try:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                        dir=directory)
        except OSError as exc:
            raise ValidationError(_("Cannot write in {path}: {error}").format(
                path=directory, error=exc.strerror)) from None
        self._tmp = Path(name)
        # UTF-8 with a byte-order mark: Excel then reads accents right.
        self._fh: IO[str] = open(fd, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._fh, delimiter=delimiter)
        self.rows = 0

    def writerow(self, cells: list[str]) -> None:
        self._writer.writerow([neutralize_cell(c) for c in cells])
        self.rows += 1

    def commit(self) -> None:
        self._fh.close()
        try:
            os.replace(self._tmp, self.target)
        except OSError as exc:
            self.discard()
            raise ValidationError(_("Cannot write {path}: {error}").format(
                path=self.target, error=exc.strerror)) from None

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)


@contextmanager
def atomic_csv(target: Path, *, delimiter: str = ";") -> Iterator[AtomicCsv]:
    """``with atomic_csv(path) as out: out.writerow(...)``: committed when the block ends
    without an error, discarded otherwise."""
    out = AtomicCsv(target, delimiter=delimiter)
    try:
        yield out
    except BaseException:
        out.discard()
        raise
    out.commit()
