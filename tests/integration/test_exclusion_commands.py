"""``cellcall-admin exclusion add|list|remove`` on a real SQLite file: what is stored,
what is printed, and every bad input refused in one line with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation_support import assert_refused, audit_rows, run_admin_process, snapshot


def test_add_list_and_remove(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    added = admin("exclusion", "add", "alice", "--person", "  Jean-Pierre  DÙPONT ",
                  "--note", "victim's family")
    assert added.code == 0, added.err
    assert "jean pierre dupont" in added.out
    assert admin("exclusion", "add", "alice", "--postal-code", "75 011").code == 0
    assert admin("exclusion", "add", "ALICE", "--number", "06 12 34 56 78").code == 0
    listed = admin("exclusion", "list")
    assert listed.code == 0
    lines = listed.out.strip().splitlines()
    assert lines[0].split("\t")[:4] == ["id", "operator", "kind", "value"]
    assert [line.split("\t")[1:4] for line in lines[1:]] == [
        ["alice", "person", "jean pierre dupont"], ["alice", "postal-code area", "75011"],
        ["alice", "number", "+33612345678"]]
    assert lines[1].split("\t")[4] == "victim's family"
    assert admin("exclusion", "list", "alice").out == listed.out
    removed = admin("exclusion", "remove", "2")
    assert removed.code == 0, removed.err
    assert "75011" in removed.out
    after = admin("exclusion", "list").out.strip().splitlines()
    assert [line.split("\t")[0] for line in after[1:]] == ["1", "3"]
    actions = [(row[2], row[3]) for row in audit_rows(site)[-4:]]
    assert actions == [("exclusion.add", "user:alice")] * 3 + [
        ("exclusion.remove", "user:alice")]


def test_a_number_typed_with_another_country(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    result = admin("exclusion", "add", "alice", "--number", "0470 12 34 56", "--country", "BE")
    assert result.code == 0, result.err
    assert "+32470123456" in result.out


@pytest.mark.parametrize("args", [
    ("alice",),                                                      # no kind at all
    ("alice", "--person", "Jean Dupont", "--number", "0612345678"),   # two kinds
    ("alice", "--person", "Dupont"),                                  # one word
    ("alice", "--person", "   "),
    ("alice", "--postal-code", "7"),
    ("alice", "--postal-code", "75*01"),
    ("alice", "--number", "12"),
    ("alice", "--number", "call me"),
    ("alice", "--number", "0612345678", "--country", "ZZ"),
    ("alice", "--person", "Jean Dupont", "--note", "x" * 501),
    ("nobody", "--person", "Jean Dupont"),                            # no such user
    ("bob", "--person", "Jean Dupont"),                               # not an operator
])
def test_bad_add_is_refused_and_writes_nothing(admin, site: Path,  # type: ignore[no-untyped-def]
                                               args: tuple[str, ...]) -> None:
    before = snapshot(site)
    assert_refused(admin("exclusion", "add", *args), before=before, db=site)


def test_the_same_exclusion_twice_is_refused(admin, site: Path) -> None:  # type: ignore[no-untyped-def]
    assert admin("exclusion", "add", "alice", "--number", "+33612345678").code == 0
    before = snapshot(site)
    result = admin("exclusion", "add", "alice", "--number", "06 12 34 56 78")
    assert_refused(result, before=before, db=site)
    assert "already" in result.err


@pytest.mark.parametrize("args", [("remove", "99"), ("remove", "abc"), ("remove",),
                                  ("list", "nobody"), ("list", "bob")])
def test_bad_list_or_remove_is_refused(admin, site: Path,  # type: ignore[no-untyped-def]
                                       args: tuple[str, ...]) -> None:
    before = snapshot(site)
    assert_refused(admin("exclusion", *args), before=before, db=site)


def test_the_real_command_in_its_own_process(site: Path) -> None:
    added = run_admin_process(site, "exclusion", "add", "alice", "--postal-code", "2a")
    assert added.returncode == 0, added.stderr
    listed = run_admin_process(site, "exclusion", "list", "alice")
    assert "\tpostal-code area\t2A\t" in listed.stdout
    refused = run_admin_process(site, "exclusion", "add", "alice", "--postal-code", "2A")
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "Traceback" not in refused.stderr
