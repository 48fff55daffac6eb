"""Extract, update and compile cellcall's gettext catalogues (French and English).

    python scripts/i18n.py            # extract msgids, merge into the .po files, compile .mo
    python scripts/i18n.py --check    # fail if a msgid lacks a French translation or a .mo
                                      # holds other translations than its .po (CI runs this)
"""

from __future__ import annotations

import argparse
import gettext
import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cellcall"
LOCALES = SRC / "locale"
LANGUAGES = ("fr", "en")
KEYWORDS = {"_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}


def extract() -> Catalog:
    template = Catalog(project="cellcall", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(SRC), method_map=[("**.py", "python")], keywords=KEYWORDS,
        comment_tags=("TRANSLATORS:",),
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments,
                     context=context)
    return template


def po_path(lang: str) -> Path:
    return LOCALES / lang / "LC_MESSAGES" / "cellcall.po"


def load(lang: str) -> Catalog:
    path = po_path(lang)
    if path.exists():
        with path.open("rb") as fh:
            return read_po(fh, locale=lang)
    return Catalog(locale=lang, project="cellcall", charset="utf-8")


def update() -> None:
    template = extract()
    for lang in LANGUAGES:
        catalog = load(lang)
        catalog.update(template, no_fuzzy_matching=True)
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=100, omit_header=False, ignore_obsolete=True)
        with path.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog)
        missing = sum(1 for m in catalog if m.id and not m.string)
        print(f"{lang}: {len(catalog)} messages, {missing} untranslated")


def messages_of(mo_bytes: bytes) -> dict[object, str]:
    """The translations a compiled catalogue holds, without its header: the header names
    the Babel version that wrote it, so comparing bytes fails on every Babel release."""
    catalog: dict[object, str] = gettext.GNUTranslations(io.BytesIO(mo_bytes))._catalog  # type: ignore[attr-defined]
    return {key: value for key, value in catalog.items() if key != ""}


def check() -> int:
    template = extract()
    fr = load("fr")
    problems = []
    for message in template:
        if not message.id:
            continue
        translated = fr.get(message.id, context=message.context)
        # A plural message has one string per French form: every one must be there.
        forms = () if translated is None else (
            translated.string if isinstance(translated.string, tuple) else (translated.string,))
        if not forms or not all(forms) or translated is None or translated.fuzzy:
            problems.append(message.id if isinstance(message.id, str) else message.id[0])
    for lang in LANGUAGES:
        mo = po_path(lang).with_suffix(".mo")
        compiled = io.BytesIO()
        write_mo(compiled, load(lang))
        if not mo.exists() or messages_of(mo.read_bytes()) != messages_of(compiled.getvalue()):
            problems.append(f"{mo} is missing or differs from its .po")
    for p in problems[:50]:
        print(f"untranslated or stale: {p!r}", file=sys.stderr)
    if problems:
        print(f"i18n: {len(problems)} problem(s); run python scripts/i18n.py and translate "
              "the French catalogue", file=sys.stderr)
        return 1
    print(f"i18n: {len(template)} messages, all translated into French")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if args.check:
        return check()
    update()
    return 0


if __name__ == "__main__":
    sys.exit(main())
