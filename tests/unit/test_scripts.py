"""Call scripts: loading and validation, language versions, variables, the walker."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from cellcall.errors import ValidationError
from cellcall.resources import data_file
from cellcall.services.scripts import (
    CallScript,
    ScriptWalker,
    parse_script,
    render_text,
    script_for,
    script_languages,
    script_variables,
    substitute,
)

BASE: dict[str, Any] = {
    "title": {"fr": "Test", "en": "Test EN"},
    "languages": ["fr", "en"],
    "start": "hello",
    "nodes": {
        "hello": {
            "text": {"fr": "Bonjour {contact.first_name}", "en": "Hello {contact.first_name}"},
            "choices": [
                {"label": {"fr": "Oui", "en": "Yes"}, "goto": "pitch"},
                {"label": {"fr": "Non", "en": "No"}, "goto": "bye"},
            ],
        },
        "pitch": {
            "text": {"fr": "Offre de {client.name}"},  # no English: falls back to French
            "choices": [{"label": "OK", "goto": "bye"}],
        },
        "bye": {"text": {"fr": "Au revoir", "en": "Goodbye"}},
    },
    "objections": [
        {"key": "no_time", "label": {"fr": "Pas le temps"}, "text": {"fr": "Deux minutes"}},
    ],
    "survey": [
        {"key": "sat", "kind": "scale", "min": 1, "max": 5, "label": "Satisfaction"},
        {"key": "chan", "kind": "single", "options": ["a", "b"], "label": "Channel"},
    ],
    "calendar": {"timezone": "Europe/Paris", "days": [0, 1], "hours": [["09:00", "12:00"]],
                 "slot_minutes": 30, "horizon_days": 7},
    "verification": [{"key": "company", "label": {"fr": "Société"}}],
}


def doc(**changes: Any) -> dict[str, Any]:
    d = copy.deepcopy(BASE)
    d.update(changes)
    return d


def load(raw: object, language: str = "fr") -> CallScript:
    return parse_script(raw, language=language, source="t.yaml")


def test_loads_every_part() -> None:
    s = load(doc())
    assert s.start == "hello" and set(s.nodes) == {"hello", "pitch", "bye"}
    assert s.nodes["hello"].choices[0].goto == "pitch"
    assert s.objections[0].key == "no_time"
    assert [q.kind for q in s.survey] == ["scale", "single"]
    assert s.survey[1].option_keys == ("a", "b")
    assert s.calendar is not None and s.calendar.slot_minutes == 30
    assert s.verification[0].label == "Société"
    assert s.dispositions is None


def test_language_version_and_fallback() -> None:
    en = load(doc(), "en")
    assert en.language == "en" and en.title == "Test EN"
    assert en.nodes["hello"].text == "Hello {contact.first_name}"
    # 'pitch' has no English text: the file's first language is used.
    assert en.nodes["pitch"].text == "Offre de {client.name}"
    # A contact language the file lacks gets the first language.
    assert load(doc(), "tr").language == "fr"
    assert load(doc(), "EN").language == "en"


@pytest.mark.parametrize(("changes", "message"), [
    ({"start": "nowhere"}, "'start' names 'nowhere'"),
    ({"start": None}, "'start' is missing"),
    ({"languages": []}, "'languages' must be a non-empty list"),
    ({"languages": ["fr", "fr"]}, "listed twice"),
    ({"languages": ["xx-nope"]}, "not a two-letter language code"),
    ({"colour": "blue"}, "unknown key(s) colour"),
    ({"nodes": {}}, "'nodes' must be a non-empty mapping"),
    ({"objections": "no"}, "'objections' must be a list"),
    ({"dispositions": []}, "'dispositions' must be a non-empty list"),
])
def test_top_level_errors(changes: dict[str, Any], message: str) -> None:
    raw = doc(**changes)
    if changes.get("start", "") is None:
        del raw["start"]
    with pytest.raises(ValidationError, match=r"Invalid call script t\.yaml") as err:
        load(raw)
    assert message in str(err.value)


def test_unknown_goto_is_named() -> None:
    raw = doc()
    raw["nodes"]["pitch"]["choices"][0]["goto"] = "closing"
    with pytest.raises(ValidationError) as err:
        load(raw)
    assert "choice 1 of node 'pitch' goes to 'closing', which is not a node" in str(err.value)


def test_text_errors() -> None:
    raw = doc()
    raw["nodes"]["bye"]["text"] = {"en": "Goodbye"}  # the first language (fr) is missing
    with pytest.raises(ValidationError, match="no text in 'fr'"):
        load(raw)
    raw = doc()
    raw["nodes"]["bye"]["text"] = {"fr": "Au revoir", "de": "Tschüss"}
    with pytest.raises(ValidationError, match="text in 'de', which is not in 'languages'"):
        load(raw)
    raw = doc()
    raw["nodes"]["bye"]["text"] = {"fr": "   "}
    with pytest.raises(ValidationError, match="empty text"):
        load(raw)
    raw = doc()
    raw["nodes"]["bye"] = {"txt": "typo"}
    with pytest.raises(ValidationError, match="unknown key"):
        load(raw)


def test_a_broken_translation_is_reported_whatever_the_language_asked() -> None:
    raw = doc()
    raw["nodes"]["bye"]["text"] = {"fr": "Au revoir", "en": 42}
    with pytest.raises(ValidationError, match="'en' text must be a string"):
        load(raw, "fr")


@pytest.mark.parametrize(("question", "message"), [
    ({"key": "q", "kind": "rating", "label": "x"}, "kind must be one of"),
    ({"key": "q", "kind": "scale", "min": 5, "max": 1, "label": "x"}, "min < max"),
    ({"key": "q", "kind": "scale", "min": 1, "label": "x"}, "min < max"),
    ({"key": "q", "kind": "single", "label": "x"}, "at least two options"),
    ({"key": "q", "kind": "multiple", "options": ["a", "a"], "label": "x"}, "appears twice"),
    ({"key": "q", "kind": "text", "options": ["a", "b"], "label": "x"}, "only single"),
    ({"key": "q", "kind": "text", "required": "no", "label": "x"}, "true or false"),
    ({"key": "sat", "kind": "text", "label": "x"}, "defined twice"),
    ({"key": "bad key!", "kind": "text", "label": "x"}, "not a valid key"),
])
def test_survey_errors(question: dict[str, Any], message: str) -> None:
    raw = doc()
    raw["survey"].append(question)
    with pytest.raises(ValidationError) as err:
        load(raw)
    assert message in str(err.value)


def test_survey_options_with_translated_labels() -> None:
    raw = doc()
    raw["survey"].append({"key": "m", "kind": "multiple", "label": "x", "required": False,
                          "options": [{"key": "p", "label": {"fr": "Prix", "en": "Price"}},
                                      {"key": "q", "label": {"fr": "Qualité"}}]})
    q = load(raw, "en").survey[-1]
    assert [(o.key, o.label) for o in q.options] == [("p", "Price"), ("q", "Qualité")]
    assert q.required is False


@pytest.mark.parametrize(("calendar", "message"), [
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"days": [7]}, "weekdays from 0"),
    ({"hours": [["09:00", "08:00"]]}, "ends before it starts"),
    ({"hours": [["9h", "12:00"]]}, "is not a"),
    ({"hours": [["09:00", "12:00"], ["11:00", "13:00"]]}, "overlap"),
    ({"slot_minutes": 0}, "slot_minutes"),
    ({"horizon_days": 1000}, "horizon_days"),
])
def test_calendar_errors(calendar: dict[str, Any], message: str) -> None:
    raw = doc()
    raw["calendar"].update(calendar)
    with pytest.raises(ValidationError) as err:
        load(raw)
    assert message in str(err.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not found"):
        script_for(tmp_path / "missing.yaml", "fr")
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [unclosed\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="not valid YAML"):
        script_for(bad, "fr")
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="must be a mapping"):
        script_for(listy, "fr")


def test_only_safe_yaml_is_read(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(
        f"title: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="not valid YAML"):
        script_for(evil, "fr")
    assert not marker.exists()


def test_script_for_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc(), allow_unicode=True), encoding="utf-8")
    assert script_for(path, "en").title == "Test EN"
    assert script_languages(path) == ("fr", "en")


# --- variables -------------------------------------------------------------------------------

VALUES = script_variables(contact_first_name="Ana", contact_last_name="Pop",
                          contact_company="ACME", operator_first_name="Karim",
                          client_name="Solis", campaign_name="Spring")


def test_whitelisted_variables_are_replaced() -> None:
    text = ("{contact.first_name} {contact.last_name} ({contact.company}), {operator.first_name}"
            " / {client.name} / {campaign.name}")
    assert substitute(text, VALUES) == "Ana Pop (ACME), Karim / Solis / Spring"
    assert render_text("Hi {contact.first_name}", VALUES) == "Hi Ana"


@pytest.mark.parametrize("template", [
    "{contact.__class__}", "{contact.__class__.__init__.__globals__}", "{0}", "{}",
    "{contact.first_name!r}", "{contact.first_name:>10}", "{contact.phone_e164}",
    "{operator.password_hash}", "{contact}", "{{contact.first_name}}x",
])
def test_anything_else_stays_literal(template: str) -> None:
    out = substitute(template, VALUES)
    if template == "{{contact.first_name}}x":
        # No brace escaping: the inner variable is replaced, the outer braces stay.
        assert out == "{Ana}x"
    else:
        assert out == template


def test_values_are_inserted_raw_and_never_rescanned() -> None:
    values = script_variables(contact_first_name="[red]x[/] {client.name}",
                              contact_last_name="\x1b[2J", client_name="Solis")
    out = substitute("{contact.first_name} {contact.last_name}", values)
    assert out == "[red]x[/] {client.name} \x1b[2J"


def test_missing_values_leave_the_variable() -> None:
    assert substitute("Hi {contact.first_name}", {}) == "Hi {contact.first_name}"


# --- walker ------------------------------------------------------------------------------------

def test_walker_records_the_path_taken() -> None:
    w = ScriptWalker(load(doc()))
    assert w.current.key == "hello" and not w.can_go_back
    assert w.choose(0) is True and w.current.key == "pitch"
    w.open_objection("no_time")
    assert w.in_objection
    assert w.current.text == "Deux minutes" and w.current.choices == ()
    assert w.choose(0) is False  # an objection's answer has no choices
    assert w.back() is True and not w.in_objection and w.current.key == "pitch"
    assert w.back() is True and w.current.key == "hello"
    assert w.back() is False
    assert w.choose(5) is False
    assert w.choose(1) is True and w.current.key == "bye"
    assert w.path == ("hello", "pitch", "objection:no_time", "hello", "bye")
    script = w.script
    assert all(script.is_path_entry(e) for e in w.path)
    assert not script.is_path_entry("objection:nope") and not script.is_path_entry("nope")


def test_walker_refuses_an_unknown_objection() -> None:
    w = ScriptWalker(load(doc()))
    with pytest.raises(ValidationError, match="no objection 'nope'"):
        w.open_objection("nope")
    assert w.path == ("hello",)


# --- the shipped demo scripts --------------------------------------------------------------

def test_demo_appointment_script() -> None:
    s = script_for(data_file("scripts/demo-rdv-b2b.yaml"), "fr")
    assert s.languages == ("fr",)
    assert 6 <= len(s.nodes) <= 10
    assert len(s.objections) >= 3
    assert s.calendar is not None and s.calendar.timezone == "Europe/Paris"
    assert s.dispositions is not None and "appointment_set" in s.dispositions
    # Every node is reachable from the start.
    seen, todo = set(), [s.start]
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo.extend(c.goto for c in s.nodes[key].choices)
    assert seen == set(s.nodes)


def test_demo_survey_script_in_three_languages() -> None:
    path = data_file("scripts/demo-enquete.yaml")
    assert script_languages(path) == ("fr", "ru", "tr")
    kinds = {q.kind for q in script_for(path, "fr").survey}
    assert kinds == {"scale", "single", "multiple", "text"}
    ru, tr = script_for(path, "ru"), script_for(path, "tr")
    assert any("\u0400" <= ch <= "\u04ff" for ch in ru.nodes[ru.start].text)  # Cyrillic
    assert "ğ" in tr.nodes["thanks"].text or "ş" in tr.nodes["thanks"].text
    assert ru.survey[1].options[0].label == "В магазине"
    assert tr.survey[1].options[0].label == "Mağazada"
    for node in ru.nodes.values():
        assert node.text != script_for(path, "fr").nodes[node.key].text
