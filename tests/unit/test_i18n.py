"""The gettext catalogues: French is complete, keeps every placeholder, and is compiled."""

from __future__ import annotations

import importlib.util
import string
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from cellcall import i18n
from cellcall.services import auth

REPO = Path(__file__).resolve().parents[2]
FRENCH_PO = REPO / "src" / "cellcall" / "locale" / "fr" / "LC_MESSAGES" / "cellcall.po"
LOGIN_FAILED = "Login failed: check your login and password, or ask your supervisor."


@pytest.fixture
def restore_language() -> Iterator[None]:
    before = i18n.current_language()
    yield
    i18n.set_language(before)


def _i18n_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cellcall_i18n_script",
                                                  REPO / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _placeholders(text: str) -> set[tuple[str, str | None, str | None]]:
    """``{name!conv:spec}`` fields of a str.format template; ``{{`` escapes are not fields."""
    return {(name, conversion, spec)
            for _literal, name, spec, conversion in string.Formatter().parse(text)
            if name is not None}


def _french_messages() -> list[Message]:
    with FRENCH_PO.open("rb") as fh:
        catalog = read_po(fh, locale="fr")
    return [m for m in catalog if m.id and m.string]


def test_french_and_english_login_failure(restore_language: None) -> None:
    i18n.set_language("fr")
    assert i18n.current_language() == "fr"
    french = auth.login_failed_message()
    assert french.startswith("Échec de la connexion")
    assert french != LOGIN_FAILED

    i18n.set_language("en")
    assert auth.login_failed_message() == LOGIN_FAILED


def test_unsupported_language_falls_back_to_french(restore_language: None) -> None:
    i18n.set_language("xx")
    assert i18n.current_language() == "fr"
    assert auth.login_failed_message() != LOGIN_FAILED


def test_placeholder_parser_sees_fields_not_escaped_braces() -> None:
    # The check below is only as good as this parser: it must tell fields from {{ }}.
    assert _placeholders("{n} of {slug:>5}, {{e164}}") == {("n", None, ""),
                                                           ("slug", None, ">5")}
    assert _placeholders("{n} de {slug}") != _placeholders("{n} of {slug:>5}")


def test_french_translations_keep_every_placeholder() -> None:
    messages = _french_messages()
    assert len(messages) > 100  # the catalogue was read, not an empty file
    wrong: list[tuple[object, object]] = []
    for m in messages:
        if isinstance(m.id, str):
            assert isinstance(m.string, str)
            if _placeholders(m.string) != _placeholders(m.id):
                wrong.append((m.id, m.string))
        else:
            # ngettext: each French form keeps the singular's or the plural's fields.
            allowed = [_placeholders(m.id[0]), _placeholders(m.id[1])]
            forms = [m.string] if isinstance(m.string, str) else list(m.string or ())
            wrong.extend((m.id, form) for form in forms if _placeholders(form) not in allowed)
    assert wrong == []


def test_french_translations_keep_edge_spaces() -> None:
    wrong = [(m.id, m.string) for m in _french_messages()
             if isinstance(m.id, str) and isinstance(m.string, str)
             and (m.id[:1] == " ", m.id[-1:] == " ") != (m.string[:1] == " ",
                                                         m.string[-1:] == " ")]
    assert wrong == []


def test_catalogue_check_passes() -> None:
    # Fails while a msgid lacks a French translation or a .mo differs from its .po:
    # run `python scripts/i18n.py` and translate the French catalogue.
    assert _i18n_script().check() == 0


# --- words that French must see translated (not only catalogued) ---------------------------

def test_one_english_word_two_french_ones(restore_language: None) -> None:
    # "new" is a newcomer operator on the floor and an unread note: French says them apart.
    i18n.set_language("fr")
    newcomer = i18n.pgettext("newcomer operator", "new")
    unread = i18n.pgettext("unread coaching note", "new")
    assert {newcomer, unread}.isdisjoint({"new", ""}) and newcomer != unread


def _campaign_card(calls_today: int) -> str:
    from cellcall.services.floor import CampaignProgress
    from cellcall.tui.widgets.campaign_progress import render_progress

    progress = CampaignProgress(
        campaign_id=1, slug="c", name="C", total=5, done=1, remaining=4, callable_now=4,
        not_callable=(), outcomes=(("no_answer", 2),), contact_rate=0.5, appointments=0,
        calls_per_hour=(calls_today,) + (0,) * 23)
    return render_progress(progress).plain


def test_french_plural_forms_follow_the_count(restore_language: None) -> None:
    def calls_line(total: int) -> str:
        return _campaign_card(total).splitlines()[-1]

    i18n.set_language("fr")
    assert calls_line(1).endswith("(1 appel) :")
    assert calls_line(2).endswith("(2 appels) :")
    i18n.set_language("en")
    assert calls_line(1).endswith("(1 call):") and calls_line(2).endswith("(2 calls):")


def test_french_lines_hold_no_english_value_or_colon_rule(restore_language: None) -> None:
    from cellcall.services.exclusions import kind_label
    from cellcall.tui.widgets.literal import labelled

    i18n.set_language("fr")
    assert labelled("Campagne", "c-1").plain == "Campagne : c-1"
    assert [kind_label(k) for k in ("person", "postal_code", "number")] == [
        "personne", "zone de code postal", "numéro"]
    # A disposition key is shown as its label, with French punctuation.
    assert "no_answer" not in _campaign_card(0) and "Pas de réponse : 2" in _campaign_card(0)


def test_french_admin_inserts_french_words(admin: Any, restore_language: None) -> None:
    assert admin("init").code == 0
    for login, role in (("chef", "supervisor"), ("alice", "operator")):
        assert admin("user", "add", login, "--role", role, "--name", login.title()).code == 0
    assert admin("station", "add", "poste-1").code == 0
    i18n.set_language("fr")
    refused = admin("station", "assign", "chef", "poste-1")
    assert refused.code == 1 and "chef est superviseur." in refused.err
    added = admin("exclusion", "add", "alice", "--person", "Jean Dupont")
    assert "à l'écart de la personne jean dupont" in added.out
    twice = admin("exclusion", "add", "alice", "--person", "Jean Dupont")
    assert "de cette personne" in twice.err and "person " not in twice.err
    # French uses the singular for 0 (English says "0 personal callbacks").
    moved = admin("callbacks", "reassign", "--from", "alice")
    assert "0 rappel personnel de alice peut" in moved.out
