"""Campaign call scripts: one YAML file per campaign holding every language version.

A script is a graph of nodes (text + choices leading to other nodes), objection answers
reachable from any node, and what the wrap-up needs: survey questions, an appointment
calendar (in the client's time zone), fields to verify, and optionally the campaign's
dispositions. Files are read with ``yaml.safe_load`` only and validated completely, so a
mistake is reported when the file is loaded, not in the middle of a call.

Texts are templates with a handful of whitelisted variables, replaced by a regular
expression over a dict. Never ``str.format``: a client's file could otherwise reach
attributes (``{contact.__class__}``) or positional arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from cellcall.errors import ValidationError
from cellcall.i18n import _
from cellcall.services.languages import normalize_language

VARIABLES: frozenset[str] = frozenset({
    "contact.first_name", "contact.last_name", "contact.company",
    "operator.first_name", "client.name", "campaign.name",
})
"""The only variables a script may use; anything else in braces stays literal text."""

_VARIABLE_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*)\}")
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

SURVEY_KINDS: frozenset[str] = frozenset({"scale", "single", "multiple", "text"})
OBJECTION_PREFIX = "objection:"

_TOP_KEYS = frozenset({"title", "languages", "start", "nodes", "objections", "survey",
                       "calendar", "verification", "dispositions"})
MAX_SCRIPT_BYTES = 1_000_000


# --- what a loaded script looks like ---------------------------------------------------

@dataclass(frozen=True)
class Choice:
    label: str
    goto: str


@dataclass(frozen=True)
class ScriptNode:
    key: str
    text: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class Objection:
    key: str
    label: str
    text: str


@dataclass(frozen=True)
class SurveyOption:
    key: str
    label: str


@dataclass(frozen=True)
class SurveyQuestion:
    key: str
    kind: str  # scale | single | multiple | text
    label: str
    required: bool = True
    options: tuple[SurveyOption, ...] = ()
    min: int | None = None
    max: int | None = None

    @property
    def option_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options)


@dataclass(frozen=True)
class Calendar:
    """Bookable appointment slots, as wall times in the client's time zone."""

    timezone: str
    days: frozenset[int]  # Monday = 0
    hours: tuple[tuple[time, time], ...]
    slot_minutes: int
    horizon_days: int

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class VerificationField:
    key: str
    label: str


@dataclass(frozen=True)
class CallScript:
    """One language version of a campaign's script."""

    source: str
    language: str
    languages: tuple[str, ...]
    title: str
    start: str
    nodes: Mapping[str, ScriptNode]
    objections: tuple[Objection, ...] = ()
    survey: tuple[SurveyQuestion, ...] = ()
    calendar: Calendar | None = None
    verification: tuple[VerificationField, ...] = ()
    dispositions: tuple[str, ...] | None = None

    def node(self, key: str) -> ScriptNode:
        try:
            return self.nodes[key]
        except KeyError:
            raise ValidationError(_("The script has no node '{key}'.").format(key=key)) from None

    def objection(self, key: str) -> Objection:
        for objection in self.objections:
            if objection.key == key:
                return objection
        raise ValidationError(_("The script has no objection '{key}'.").format(key=key))

    def is_path_entry(self, entry: str) -> bool:
        """True for a node key or ``objection:<key>`` of this script."""
        if entry.startswith(OBJECTION_PREFIX):
            key = entry[len(OBJECTION_PREFIX):]
            return any(o.key == key for o in self.objections)
        return entry in self.nodes


# --- variables ----------------------------------------------------------------------

def substitute(template: str, values: Mapping[str, str]) -> str:
    """Replace whitelisted ``{a.b}`` variables from ``values``; leave everything else as it is.

    Values are inserted raw and never re-scanned (a name containing ``{client.name}`` or
    markup stays exactly that text); making them inert on screen is the UI's job.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in VARIABLES and name in values:
            return values[name]
        return match.group(0)

    return _VARIABLE_RE.sub(replace, template)


def render_text(template: str, values: Mapping[str, str]) -> str:
    """The text to show for a script template (alias of ``substitute`` for the UI)."""
    return substitute(template, values)


def first_name_of(display_name: str) -> str:
    """An operator's first name for the script: the first word of their display name."""
    parts = display_name.split()
    return parts[0] if parts else ""


def script_variables(*, contact_first_name: str = "", contact_last_name: str = "",
                     contact_company: str = "", operator_first_name: str = "",
                     client_name: str = "", campaign_name: str = "") -> dict[str, str]:
    """The variable dict ``substitute`` expects, built from plain values."""
    return {
        "contact.first_name": contact_first_name,
        "contact.last_name": contact_last_name,
        "contact.company": contact_company,
        "operator.first_name": operator_first_name,
        "client.name": client_name,
        "campaign.name": campaign_name,
    }


# --- loading ------------------------------------------------------------------------

class _Parser:
    """Validates the raw YAML document for one language; every error names where it is."""

    def __init__(self, raw: object, source: str) -> None:
        self.source = source
        if not isinstance(raw, dict):
            self.fail(_("the file must be a mapping with 'languages', 'start' and 'nodes'"))
        self.raw: dict[str, Any] = raw
        unknown = sorted(str(k) for k in raw if k not in _TOP_KEYS)
        if unknown:
            self.fail(_("unknown key(s) {keys}").format(keys=", ".join(unknown)))
        self.languages = self._languages()

    def fail(self, message: str) -> NoReturn:
        raise ValidationError(_("Invalid call script {source}: {message}.").format(
            source=self.source, message=message))

    def _languages(self) -> tuple[str, ...]:
        raw = self.raw.get("languages")
        if not isinstance(raw, list) or not raw:
            self.fail(_("'languages' must be a non-empty list of language codes"))
        result: list[str] = []
        for item in raw:
            code = normalize_language(item) if isinstance(item, str) else None
            if code is None or code != item.strip().lower():
                self.fail(_("'{code}' in 'languages' is not a two-letter language code").format(
                    code=item))
            if code in result:
                self.fail(_("language '{code}' is listed twice").format(code=code))
            result.append(code)
        return tuple(result)

    def text(self, value: object, where: str, language: str) -> str:
        """A translated text: a mapping language -> text, or one text for every language."""
        if isinstance(value, str):
            chosen = value
        elif isinstance(value, dict) and value:
            for key, item in value.items():
                if key not in self.languages:
                    self.fail(_("{where} has a text in '{code}', which is not in 'languages'")
                              .format(where=where, code=key))
                if not isinstance(item, str):
                    self.fail(_("{where}: the '{code}' text must be a string").format(
                        where=where, code=key))
            first = self.languages[0]
            if first not in value:
                self.fail(_("{where} has no text in '{code}', the file's first language")
                          .format(where=where, code=first))
            # A missing language falls back to the file's first language.
            chosen = str(value.get(language, value[first]))
        else:
            self.fail(_("{where} needs a text").format(where=where))
        if not chosen.strip():
            self.fail(_("{where} has an empty text").format(where=where))
        return chosen

    def key(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not _KEY_RE.match(value):
            self.fail(_("{where}: '{key}' is not a valid key (letters, digits, '_' or '-')")
                      .format(where=where, key=value))
        return str(value)

    def mapping(self, value: object, where: str, allowed: set[str],
                required: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            return self.fail(_("{where} must be a mapping").format(where=where))
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            self.fail(_("{where} has unknown key(s) {keys}").format(
                where=where, keys=", ".join(unknown)))
        missing = sorted(required - set(value))
        if missing:
            self.fail(_("{where} is missing {keys}").format(where=where, keys=", ".join(missing)))
        return value

    def items(self, name: str) -> list[Any]:
        value = self.raw.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            return self.fail(_("'{name}' must be a list").format(name=name))
        return value

    # The parts of a script.

    def nodes(self, language: str) -> tuple[str, dict[str, ScriptNode]]:
        raw_nodes = self.raw.get("nodes")
        if not isinstance(raw_nodes, dict) or not raw_nodes:
            self.fail(_("'nodes' must be a non-empty mapping of node key to node"))
        start = self.raw.get("start")
        if start is None:
            self.fail(_("'start' is missing"))
        if start not in raw_nodes:
            self.fail(_("'start' names '{key}', which is not a node").format(key=start))
        nodes: dict[str, ScriptNode] = {}
        for raw_key, raw_node in raw_nodes.items():
            key = self.key(raw_key, _("node"))
            where = _("node '{key}'").format(key=key)
            node = self.mapping(raw_node, where, {"text", "choices"}, {"text"})
            raw_choices = node.get("choices") or []
            if not isinstance(raw_choices, list):
                self.fail(_("{where}: 'choices' must be a list").format(where=where))
            choices: list[Choice] = []
            for index, raw_choice in enumerate(raw_choices, start=1):
                cwhere = _("choice {n} of node '{key}'").format(n=index, key=key)
                choice = self.mapping(raw_choice, cwhere, {"label", "goto"}, {"label", "goto"})
                goto = choice["goto"]
                if not isinstance(goto, str) or goto not in raw_nodes:
                    self.fail(_("{where} goes to '{goto}', which is not a node").format(
                        where=cwhere, goto=goto))
                choices.append(Choice(self.text(choice["label"], cwhere, language), goto))
            nodes[key] = ScriptNode(key, self.text(node["text"], where, language),
                                    tuple(choices))
        return str(start), nodes

    def objections(self, language: str) -> tuple[Objection, ...]:
        result: list[Objection] = []
        for index, raw in enumerate(self.items("objections"), start=1):
            where = _("objection {n}").format(n=index)
            item = self.mapping(raw, where, {"key", "label", "text"}, {"key", "label", "text"})
            key = self.key(item["key"], where)
            if any(o.key == key for o in result):
                self.fail(_("objection '{key}' is defined twice").format(key=key))
            where = _("objection '{key}'").format(key=key)
            result.append(Objection(key, self.text(item["label"], where, language),
                                    self.text(item["text"], where, language)))
        return tuple(result)

    def survey(self, language: str) -> tuple[SurveyQuestion, ...]:
        result: list[SurveyQuestion] = []
        for index, raw in enumerate(self.items("survey"), start=1):
            where = _("survey question {n}").format(n=index)
            item = self.mapping(raw, where,
                                {"key", "kind", "label", "required", "options", "min", "max"},
                                {"key", "kind", "label"})
            key = self.key(item["key"], where)
            if any(q.key == key for q in result):
                self.fail(_("survey question '{key}' is defined twice").format(key=key))
            where = _("survey question '{key}'").format(key=key)
            kind = item["kind"]
            if kind not in SURVEY_KINDS:
                self.fail(_("{where}: kind must be one of {kinds}").format(
                    where=where, kinds=", ".join(sorted(SURVEY_KINDS))))
            required = item.get("required", True)
            if not isinstance(required, bool):
                self.fail(_("{where}: 'required' must be true or false").format(where=where))
            options: tuple[SurveyOption, ...] = ()
            low: int | None = None
            high: int | None = None
            if kind in ("single", "multiple"):
                options = self._options(item.get("options"), where, language)
            elif "options" in item:
                self.fail(_("{where}: only single and multiple questions have options").format(
                    where=where))
            if kind == "scale":
                low, high = item.get("min"), item.get("max")
                if (not isinstance(low, int) or isinstance(low, bool)
                        or not isinstance(high, int) or isinstance(high, bool) or low >= high):
                    self.fail(_("{where}: a scale needs whole numbers min < max").format(
                        where=where))
            elif "min" in item or "max" in item:
                self.fail(_("{where}: only scale questions have min and max").format(
                    where=where))
            result.append(SurveyQuestion(key, kind, self.text(item["label"], where, language),
                                         required, options, low, high))
        return tuple(result)

    def _options(self, raw: object, where: str, language: str) -> tuple[SurveyOption, ...]:
        if not isinstance(raw, list) or len(raw) < 2:
            self.fail(_("{where} needs a list of at least two options").format(where=where))
        result: list[SurveyOption] = []
        for index, option in enumerate(raw, start=1):
            owhere = _("option {n} of {where}").format(n=index, where=where)
            if isinstance(option, str):
                # A bare option is its own key and label (numbers, brand names...).
                key, label = self.key(option, owhere), option
            else:
                item = self.mapping(option, owhere, {"key", "label"}, {"key", "label"})
                key = self.key(item["key"], owhere)
                label = self.text(item["label"], owhere, language)
            if any(o.key == key for o in result):
                self.fail(_("{where}: option '{key}' appears twice").format(
                    where=where, key=key))
            result.append(SurveyOption(key, label))
        return tuple(result)

    def calendar(self) -> Calendar | None:
        raw = self.raw.get("calendar")
        if raw is None:
            return None
        where = "'calendar'"
        item = self.mapping(raw, where,
                            {"timezone", "days", "hours", "slot_minutes", "horizon_days"},
                            {"timezone", "days", "hours", "slot_minutes"})
        tz = item["timezone"]
        try:
            if not isinstance(tz, str):
                raise ValueError(tz)
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail(_("calendar: unknown time zone '{tz}'").format(tz=tz))
        days = item["days"]
        if (not isinstance(days, list) or not days
                or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6
                           for d in days)):
            self.fail(_("calendar: 'days' must list weekdays from 0 (Monday) to 6 (Sunday)"))
        slot = item["slot_minutes"]
        if not isinstance(slot, int) or isinstance(slot, bool) or not 5 <= slot <= 480:
            self.fail(_("calendar: 'slot_minutes' must be a whole number from 5 to 480"))
        horizon = item.get("horizon_days", 14)
        if not isinstance(horizon, int) or isinstance(horizon, bool) or not 1 <= horizon <= 366:
            self.fail(_("calendar: 'horizon_days' must be a whole number from 1 to 366"))
        hours = item["hours"]
        if not isinstance(hours, list) or not hours:
            self.fail(_("calendar: 'hours' must list [start, end] ranges like [\"09:00\", "
                        "\"12:00\"]"))
        ranges: list[tuple[time, time]] = []
        for pair in hours:
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(p, str) and _HHMM_RE.match(p) for p in pair)):
                self.fail(_("calendar: '{value}' is not a [\"HH:MM\", \"HH:MM\"] range").format(
                    value=pair))
            begin, end = time.fromisoformat(pair[0]), time.fromisoformat(pair[1])
            if begin >= end:
                self.fail(_("calendar: range {begin}-{end} ends before it starts").format(
                    begin=pair[0], end=pair[1]))
            ranges.append((begin, end))
        ranges.sort()
        for (_b1, e1), (b2, _e2) in pairwise(ranges):
            if b2 < e1:
                self.fail(_("calendar: hour ranges overlap"))
        return Calendar(str(tz), frozenset(days), tuple(ranges), slot, horizon)

    def verification(self, language: str) -> tuple[VerificationField, ...]:
        result: list[VerificationField] = []
        for index, raw in enumerate(self.items("verification"), start=1):
            where = _("verification field {n}").format(n=index)
            item = self.mapping(raw, where, {"key", "label"}, {"key", "label"})
            key = self.key(item["key"], where)
            if any(f.key == key for f in result):
                self.fail(_("verification field '{key}' is defined twice").format(key=key))
            result.append(VerificationField(key, self.text(
                item["label"], _("verification field '{key}'").format(key=key), language)))
        return tuple(result)

    def dispositions(self) -> tuple[str, ...] | None:
        raw = self.raw.get("dispositions")
        if raw is None:
            return None
        if not isinstance(raw, list) or not raw:
            self.fail(_("'dispositions' must be a non-empty list"))
        result: list[str] = []
        for item in raw:
            key = self.key(item, "'dispositions'")
            if key not in result:
                result.append(key)
        return tuple(result)

    def build(self, language: str) -> CallScript:
        start, nodes = self.nodes(language)
        title_raw = self.raw.get("title")
        title = (self.text(title_raw, "'title'", language) if title_raw is not None
                 else Path(self.source).stem)
        return CallScript(
            source=self.source, language=language, languages=self.languages, title=title,
            start=start, nodes=MappingProxyType(nodes), objections=self.objections(language),
            survey=self.survey(language), calendar=self.calendar(),
            verification=self.verification(language), dispositions=self.dispositions())


def parse_script(raw: object, *, language: str, source: str = "<script>") -> CallScript:
    """Validate an already-parsed document and return its ``language`` version.

    Every language version is validated, so a broken translation is reported whichever
    language is asked for. A language the file lacks gives the file's first language.
    """
    parser = _Parser(raw, source)
    for code in parser.languages:
        parser.build(code)
    wanted = normalize_language(language) or ""
    return parser.build(wanted if wanted in parser.languages else parser.languages[0])


def _read(path: Path) -> object:
    try:
        if path.stat().st_size > MAX_SCRIPT_BYTES:
            raise ValidationError(_("Call script {path} is too large.").format(path=path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(_("Call script not found: {path}").format(path=path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(_("Cannot read call script {path}: {error}").format(
            path=path, error=exc)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValidationError(_("Call script {path} is not valid YAML{where}.").format(
            path=path, where=where)) from None


def script_for(path: str | Path, language: str) -> CallScript:
    """The version of the script file at ``path`` for a contact speaking ``language``."""
    p = Path(path)
    return parse_script(_read(p), language=language, source=str(p))


def script_languages(path: str | Path) -> tuple[str, ...]:
    """Validate the whole file and return the languages it holds (for admin checks)."""
    p = Path(path)
    return script_for(p, "").languages


# --- walking a script during a call ------------------------------------------------------

@dataclass
class ScriptWalker:
    """Where the operator is in the script, and the path taken so far.

    ``current`` is the step on screen: the node, or while an objection is open, the
    objection's answer as a step without choices. The path records the journey as it
    happened (node keys and ``objection:<key>``, steps back included) for the outcome and
    for quality review. Moves driven by keys return False instead of raising when they
    are not possible (a digit with no choice, back at the start).
    """

    script: CallScript
    node_key: str = ""
    objection_key: str | None = None
    _history: list[str] = field(default_factory=list)
    _path: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.node_key:
            self.node_key = self.script.start
        self.script.node(self.node_key)
        self._path.append(self.node_key)

    @property
    def node(self) -> ScriptNode:
        """The script node the operator is on (under any open objection)."""
        return self.script.node(self.node_key)

    @property
    def current(self) -> ScriptNode:
        """The step to show: the node, or the open objection's answer."""
        if self.objection_key is not None:
            objection = self.script.objection(self.objection_key)
            return ScriptNode(OBJECTION_PREFIX + objection.key, objection.text, ())
        return self.node

    @property
    def in_objection(self) -> bool:
        return self.objection_key is not None

    @property
    def objection(self) -> Objection | None:
        return None if self.objection_key is None else self.script.objection(self.objection_key)

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self._path)

    @property
    def can_go_back(self) -> bool:
        return self.objection_key is not None or bool(self._history)

    def choose(self, index: int) -> bool:
        """Follow the current node's choice ``index`` (0-based); False if there is none."""
        choices = self.current.choices
        if not 0 <= index < len(choices):
            return False
        self._history.append(self.node_key)
        self.node_key = choices[index].goto
        self._path.append(self.node_key)
        return True

    def open_objection(self, key: str) -> Objection:
        """Show an objection's answer over the current node (unknown key: ValidationError)."""
        objection = self.script.objection(key)
        self.objection_key = key
        self._path.append(OBJECTION_PREFIX + key)
        return objection

    def close_objection(self) -> bool:
        """Back from an objection's answer to the node it was opened on."""
        if self.objection_key is None:
            return False
        self.objection_key = None
        return True

    def back(self) -> bool:
        """Close an open objection, else return to the previous node; False at the start."""
        if self.close_objection():
            return True
        if not self._history:
            return False
        self.node_key = self._history.pop()
        self._path.append(self.node_key)
        return True


def survey_question(script: CallScript, key: str) -> SurveyQuestion | None:
    for question in script.survey:
        if question.key == key:
            return question
    return None
