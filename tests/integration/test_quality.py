"""Recordings list and playback, scorecards and scores: supervisors only, audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from cellcall.db import read_session, run_write
from cellcall.errors import NotFoundError, PermissionDeniedError, ValidationError
from cellcall.services import quality
from cellcall.services.actors import shell_admin
from foundation_support import assert_refused, snapshot
from quality_support import (
    QualitySite,
    add_call,
    audit_actions,
    quality_fixtures,
)

DEFAULT_KEYS = ["greeting", "purpose", "listening", "script", "objections", "closing",
                "compliance"]
T0 = datetime(2026, 9, 10, 8, 0, tzinfo=UTC)


template, site, engine = quality_fixtures("quality")


def _wav(folder: Path, name: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + b"\0" * 100)
    return path


def _points(**changes: int) -> dict[str, int]:
    points = dict.fromkeys(DEFAULT_KEYS, 4)
    points.update(changes)
    return points


# --- recordings list ----------------------------------------------------------------------

def test_recordings_list_and_filters(site: QualitySite, engine: Engine, tmp_path: Path) -> None:
    ids = site.ids
    rec = tmp_path / "recordings"
    a = add_call(engine, operator_id=ids["olga"], campaign_id=ids["enquete"], claimed_at=T0,
                 recording=_wav(rec, "a.wav"), talk_seconds=95.0)
    # 22:30 UTC on the 10th is 00:30 on the 11th in Paris (summer time).
    b = add_call(engine, operator_id=ids["omar"], campaign_id=ids["rdv"],
                 claimed_at=datetime(2026, 9, 10, 22, 30, tzinfo=UTC), disposition="completed")
    # Engine-decided result, no wrap-up yet: the attempt's own result is the disposition.
    c = add_call(engine, operator_id=ids["olga"], campaign_id=ids["rdv"],
                 claimed_at=T0 + timedelta(hours=1), disposition=None, result="busy")
    add_call(engine, operator_id=ids["olga"], campaign_id=ids["enquete"], claimed_at=T0,
             talk_seconds=None, disposition="no_answer")  # never answered: nothing to hear
    add_call(engine, operator_id=ids["olga"], campaign_id=ids["enquete"], claimed_at=T0,
             ended=False)  # still in progress
    sam = site.actor("sam")

    def listed(**filters: Any) -> list[int]:
        with read_session(engine) as s:
            return [r.attempt_id for r in quality.list_recordings(session=s, actor=sam,
                                                                  **filters)]

    assert listed() == [c, b, a]  # newest first
    assert listed(operator_login="OLGA") == [c, a]
    assert listed(campaign_slug="rdv") == [c, b]
    assert listed(disposition="completed") == [b]
    assert listed(disposition="busy") == [c]
    assert listed(day=date(2026, 9, 11)) == [b]
    assert listed(day=date(2026, 9, 10)) == [c, a]
    assert listed(day=date(2026, 9, 11), site_timezone="UTC") == []
    assert listed(operator_login="nobody") == []
    assert listed(limit=1) == [c]

    with read_session(engine) as s:
        row = next(r for r in quality.list_recordings(session=s, actor=sam) if r.attempt_id == a)
    assert (row.operator_login, row.operator_name, row.campaign_slug) == (
        "olga", "Olga Petrova", "enquete")
    assert row.disposition == "not_interested" and row.has_recording
    assert row.duration_s == 95.0 and row.score_percent is None
    assert row.started_at == T0 + timedelta(seconds=5)

    sue = site.actor("sue")
    run_write(engine, lambda s: quality.score_call(session=s, actor=sam, attempt_id=a,
                                                   points=_points(greeting=0)))
    run_write(engine, lambda s: quality.score_call(session=s, actor=sue, attempt_id=a,
                                                   points=_points(greeting=2)))
    with read_session(engine) as s:
        rows = {r.attempt_id: r for r in quality.list_recordings(session=s, actor=sam)}
    assert rows[a].score_percent == 92.9  # the latest score: 26 of 28
    assert rows[b].has_recording is False and rows[b].score_percent is None


# --- playback -----------------------------------------------------------------------------

def test_open_recording_gives_the_rows_file_and_audits(site: QualitySite, engine: Engine,
                                                      tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    wav = _wav(root, "2026/09/10/attempt.wav")
    attempt = add_call(engine, operator_id=site.ids["olga"], campaign_id=site.ids["enquete"],
                       claimed_at=T0, recording=wav)
    path = run_write(engine, lambda s: quality.open_recording(
        session=s, actor=site.actor("sam"), attempt_id=attempt, recordings_root=root))
    assert path == wav
    played = audit_actions(site.path, "recording_played")
    assert len(played) == 1
    who, target, details = played[0]
    assert who == "sam" and target == f"attempt:{attempt}"
    assert json.loads(details)["attempt_id"] == attempt


@pytest.mark.parametrize("case", ["purged", "file-gone", "outside", "unknown"])
def test_open_recording_refusals(site: QualitySite, engine: Engine, tmp_path: Path,
                                 case: str) -> None:
    root = tmp_path / "recordings"
    wav = _wav(tmp_path / "elsewhere" if case == "outside" else root, "x.wav")
    attempt = add_call(engine, operator_id=site.ids["olga"], campaign_id=site.ids["enquete"],
                       claimed_at=T0, recording=None if case == "purged" else wav)
    if case == "file-gone":
        wav.unlink()
    expected: dict[str, tuple[type[Exception], str]] = {
        "purged": (NotFoundError, "purged"), "file-gone": (NotFoundError, "x.wav"),
        "outside": (PermissionDeniedError, "outside"), "unknown": (NotFoundError, "exist")}
    error, words = expected[case]
    with pytest.raises(error, match=words):
        run_write(engine, lambda s: quality.open_recording(
            session=s, actor=site.actor("sam"),
            attempt_id=attempt + 100 if case == "unknown" else attempt,
            recordings_root=root))
    assert audit_actions(site.path, "recording_played") == []


# --- scorecards ---------------------------------------------------------------------------

def test_default_scorecard(site: QualitySite, engine: Engine) -> None:
    with read_session(engine) as s:
        criteria = quality.scorecard(session=s, actor=site.actor("sam"),
                                     campaign_id=site.ids["enquete"])
    assert [c.key for c in criteria] == DEFAULT_KEYS
    assert criteria[0].label == "Greeting and identification"
    assert all(c.max_points == 4 and c.label for c in criteria)


def test_campaign_scorecard_command(admin, site: QualitySite, engine: Engine,  # type: ignore[no-untyped-def]
                                   tmp_path: Path) -> None:
    card = tmp_path / "card.toml"
    card.write_text('[[criterion]]\nkey = "greeting"\nmax_points = 2\n\n'
                    '[[criterion]]\nkey = "rgpd"\nlabel = "Mentions RGPD lues"\n'
                    'max_points = 3\n', encoding="utf-8")
    result = admin("campaign", "scorecard", "rdv", "--file", str(card))
    assert result.code == 0, result.err
    with read_session(engine) as s:
        own = quality.scorecard(session=s, actor=site.actor("sam"), campaign_id=site.ids["rdv"])
        other = quality.scorecard(session=s, actor=site.actor("sam"),
                                  campaign_id=site.ids["enquete"])
    assert [(c.key, c.label, c.max_points) for c in own] == [
        ("greeting", "Greeting and identification", 2), ("rgpd", "Mentions RGPD lues", 3)]
    assert [c.key for c in other] == DEFAULT_KEYS
    assert json.loads(audit_actions(site.path, "scorecard.set")[0][2]) == {
        "criteria": [["greeting", 2], ["rgpd", 3]]}
    shown = admin("campaign", "scorecard", "rdv")
    assert shown.code == 0 and "Mentions RGPD lues" in shown.out
    assert admin("campaign", "scorecard", "rdv", "--reset").code == 0
    with read_session(engine) as s:
        back = quality.scorecard(session=s, actor=site.actor("sam"), campaign_id=site.ids["rdv"])
    assert [c.key for c in back] == DEFAULT_KEYS
    assert "(the default criteria)" in admin("campaign", "scorecard", "rdv").out


@pytest.mark.parametrize(("content", "words"), [
    ('[[criterion]]\nkey = "a"\nlabel = "A"\n[[criterion]]\nkey = "a"\nlabel = "B"\n', "twice"),
    ('[[criterion]]\nkey = "Bad Key"\nlabel = "A"\n', "key"),
    ('[[criterion]]\nkey = "own"\n', "needs a label"),
    ('[[criterion]]\nkey = "greeting"\nmax_points = 0\n', "max_points"),
    ('[[criterion]]\nkey = "greeting"\nmax_points = true\n', "max_points"),
    ('[[criterion]]\nkey = "greeting"\ncolour = "red"\n', "unknown setting"),
    ("key = ", "TOML"),
    ("", "no [[criterion]]"),
    (None, "not found"),
])
def test_bad_scorecard_files_change_nothing(admin, site: QualitySite, tmp_path: Path,  # type: ignore[no-untyped-def]
                                            content: str | None, words: str) -> None:
    card = tmp_path / "card.toml"
    if content is not None:
        card.write_text(content, encoding="utf-8")
    before = snapshot(site.path)
    result = admin("campaign", "scorecard", "rdv", "--file", str(card))
    assert_refused(result, before=before, db=site.path)
    assert words in result.err


def test_scorecard_command_refusals(admin, site: QualitySite, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    card = tmp_path / "card.toml"
    card.write_text('[[criterion]]\nkey = "greeting"\n', encoding="utf-8")
    before = snapshot(site.path)
    assert_refused(admin("campaign", "scorecard", "nope", "--file", str(card)), before=before,
                   db=site.path)
    assert_refused(admin("campaign", "scorecard", "rdv", "--file", str(card), "--reset"),
                   before=before, db=site.path)


# --- scores -------------------------------------------------------------------------------

def test_score_call_and_scores_over_time(site: QualitySite, engine: Engine) -> None:
    ids = site.ids
    first = add_call(engine, operator_id=ids["olga"], campaign_id=ids["enquete"], claimed_at=T0)
    second = add_call(engine, operator_id=ids["olga"], campaign_id=ids["enquete"],
                      claimed_at=T0 + timedelta(days=7))
    sam = site.actor("sam")
    view = run_write(engine, lambda s: quality.score_call(
        session=s, actor=sam, attempt_id=first, points=_points(listening=1, closing=2),
        comments={"listening": " Let the callee finish. ", "closing": ""},
        comment="Good start.", now=T0 + timedelta(hours=1)))
    assert view.percent == 82.1  # 23 of 28
    assert view.points["listening"] == 1 and dict(view.comments) == {
        "listening": "Let the callee finish."}
    assert (view.operator_login, view.campaign_slug, view.supervisor_login) == (
        "olga", "enquete", "sam")
    run_write(engine, lambda s: quality.score_call(
        session=s, actor=sam, attempt_id=second, points=_points(),
        now=T0 + timedelta(days=7, hours=1)))
    with read_session(engine) as s:
        scores = quality.operator_scores(session=s, actor=sam, operator_login="olga")
        assert quality.operator_scores(session=s, actor=sam, operator_login="omar") == []
    assert [(x.attempt_id, x.percent) for x in scores] == [(first, 82.1), (second, 100.0)]
    audited = audit_actions(site.path, "call.scored")
    assert [json.loads(d)["percent"] for _a, _t, d in audited] == [82.1, 100.0]
    assert audited[0][0] == "sam"


@pytest.mark.parametrize(("points", "comments", "comment", "words"), [
    ({k: 4 for k in DEFAULT_KEYS[:-1]}, None, "", "missing: Compliance statements"),
    (_points(greeting=5), None, "", "from 0 to 4"),
    (_points(greeting=-1), None, "", "from 0 to 4"),
    (_points(greeting=True), None, "", "from 0 to 4"),
    ({**_points(), "smile": 2}, None, "", "Unknown criterion 'smile'"),
    (_points(), {"smile": "x"}, "", "Unknown criterion"),
    (_points(), {"greeting": "x" * 1001}, "", "at most 1000"),
    (_points(), None, "x" * 4001, "at most 4000"),
])
def test_bad_scores_are_refused(site: QualitySite, engine: Engine, points: dict[str, Any],
                                comments: dict[str, str] | None, comment: str,
                                words: str) -> None:
    attempt = add_call(engine, operator_id=site.ids["olga"], campaign_id=site.ids["enquete"],
                       claimed_at=T0)
    before = snapshot(site.path)
    with pytest.raises(ValidationError, match=words):
        run_write(engine, lambda s: quality.score_call(
            session=s, actor=site.actor("sam"), attempt_id=attempt, points=points,
            comments=comments, comment=comment))
    assert snapshot(site.path) == before


def test_which_calls_can_be_scored(site: QualitySite, engine: Engine) -> None:
    ids = site.ids
    unanswered = add_call(engine, operator_id=ids["olga"], campaign_id=ids["enquete"],
                          claimed_at=T0, talk_seconds=None, disposition="no_answer")
    own = add_call(engine, operator_id=ids["sam"], campaign_id=ids["enquete"], claimed_at=T0,
                   disposition=None)
    cases: list[tuple[Any, int, type[Exception]]] = [
        (site.actor("sam"), unanswered, ValidationError),
        (site.actor("sam"), own, PermissionDeniedError),
        (site.actor("sam"), own + 100, NotFoundError),
        (shell_admin(), unanswered, PermissionDeniedError),  # no user of its own to sign
    ]
    for who, attempt, error in cases:
        with pytest.raises(error):
            run_write(engine, lambda s, w=who, a=attempt: quality.score_call(
                session=s, actor=w, attempt_id=a, points=_points()))
    assert audit_actions(site.path, "call.scored") == []


def test_operators_reach_no_quality_service(site: QualitySite, engine: Engine,
                                           tmp_path: Path) -> None:
    attempt = add_call(engine, operator_id=site.ids["olga"], campaign_id=site.ids["enquete"],
                       claimed_at=T0, recording=_wav(tmp_path, "a.wav"))
    olga = site.actor("olga")
    calls: list[Callable[[Any], object]] = [
        lambda s: quality.list_recordings(session=s, actor=olga),
        lambda s: quality.list_recordings(session=s, actor=olga, operator_login="olga"),
        lambda s: quality.open_recording(session=s, actor=olga, attempt_id=attempt),
        lambda s: quality.scorecard(session=s, actor=olga, campaign_id=site.ids["enquete"]),
        lambda s: quality.campaign_scorecard(session=s, actor=olga, slug="enquete"),
        lambda s: quality.set_scorecard(session=s, actor=olga, slug="enquete", criteria=None),
        lambda s: quality.score_call(session=s, actor=olga, attempt_id=attempt,
                                     points=_points()),
        lambda s: quality.operator_scores(session=s, actor=olga, operator_login="olga"),
    ]
    before = snapshot(site.path)
    for call in calls:
        with pytest.raises(PermissionDeniedError):
            run_write(engine, call)
    assert snapshot(site.path) == before


def test_set_scorecard_in_code_is_checked(site: QualitySite, engine: Engine) -> None:
    sam = site.actor("sam")
    with pytest.raises(ValidationError, match="at least one"):
        run_write(engine, lambda s: quality.set_scorecard(session=s, actor=sam, slug="rdv",
                                                          criteria=[]))
    with pytest.raises(ValidationError, match="max_points"):
        run_write(engine, lambda s: quality.set_scorecard(
            session=s, actor=sam, slug="rdv",
            criteria=[quality.Criterion("greeting", "", 500)]))
    done = run_write(engine, lambda s: quality.set_scorecard(
        session=s, actor=sam, slug="rdv", criteria=[quality.Criterion("closing", "", 10)]))
    assert [(c.key, c.label, c.max_points) for c in done] == [("closing", "Closing", 10)]
    attempt = add_call(engine, operator_id=site.ids["olga"], campaign_id=site.ids["rdv"],
                       claimed_at=T0)
    view = run_write(engine, lambda s: quality.score_call(
        session=s, actor=sam, attempt_id=attempt, points={"closing": 7}))
    assert view.percent == 70.0


def test_a_label_never_carries_control_characters(site: QualitySite, engine: Engine) -> None:
    criteria = quality.parse_scorecard(
        '[[criterion]]\nkey = "tone"\nlabel = "Calm\\u001b[2J  tone\\n"\n', source="f.toml")
    assert criteria == (quality.Criterion("tone", "Calm\ufffd[2J tone", 4),)
    done = run_write(engine, lambda s: quality.set_scorecard(
        session=s, actor=site.actor("sam"), slug="rdv",
        criteria=[quality.Criterion("tone", "A\u202eB", 4)]))
    assert done[0].label == "A\ufffdB"
