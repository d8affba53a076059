"""forktools.carry: a patch carried to the other line by git (cherry-pick, three-way apply), on fake lines."""

import subprocess

import pytest

from forktools import carry, queue as patchq
from tests.tooling.fake_lines import MODULE, add_patch, edit, fake_fork, queue_of


MAIN = MODULE
OLD = "old a\nold b\nold c\n" + MAIN  # the older release: the same module with three lines more at the top


@pytest.fixture
def repo(tmp_path, monkeypatch):
    return fake_fork(tmp_path, monkeypatch, {"9.9.9": MAIN, "8.8.0": OLD})


def test_a_patch_is_carried_to_the_other_line_as_a_backport(repo):
    main = queue_of(repo, "9.9")
    main.vendor()
    add_patch(main, "fix.patch", "mod.py", "line 20\n", "line twenty\n", forwarded="no (to be sent upstream)")
    older = queue_of(repo, "8.8")
    older.vendor()
    with pytest.raises(patchq.PatchQueueError, match="must hold the target line"):
        carry.carry("fix.patch", "8.8", root=repo)
    assert carry.carry("fix.patch", "9.9", root=repo) == []
    assert (repo / "src/diffusers/mod.py").read_text() == OLD.replace("line 20\n", "line twenty\n")
    assert older.export() == (["fix.patch"], [])
    patch = (repo / "lines/8.8/patches/fix.patch").read_text()
    assert "@@ -20,7 +20,7 @@" in patch  # three lines lower than in 9.9
    assert "\nOrigin: backport, lines/9.9/patches/fix.patch\n" in patch and "Forwarded:" not in patch
    assert "Subject: a fix\n" in patch and older.problems() == []


def test_a_conflict_is_left_with_markers_and_reported(repo):
    main = queue_of(repo, "9.9")
    main.vendor()
    add_patch(main, "top.patch", "mod.py", "line 2\n", "line two\n")
    older = queue_of(repo, "8.8")
    older.vendor()
    add_patch(older, "own.patch", "mod.py", "line 2\n", "line 2 (old)\n")  # the older line changed it its own way
    assert carry.carry("top.patch", "9.9", root=repo) == ["mod.py"]
    text = (repo / "src/diffusers/mod.py").read_text()
    assert "<<<<<<< " in text and "line 2 (old)\n" in text and "line two\n" in text
    assert any("`git cherry-pick` stopped half-way" in p for p in older.problems())


def carry_and_commit(repo):
    """Carry fix.patch from 9.9 to 8.8 and commit both lines' queues (the revision a later `--since` starts from)."""
    older = queue_of(repo, "8.8")
    older.vendor()
    assert carry.carry("fix.patch", "9.9", root=repo) == []
    older.export()
    run = dict(cwd=repo, check=True, capture_output=True)
    subprocess.run(["git", "init", "-q"], **run)
    subprocess.run(["git", "add", "lines", "fork.toml"], **run)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "both"], **run)
    return older


def test_a_later_fix_is_carried_as_a_fixup_of_the_patch_both_lines_have(repo):
    main = queue_of(repo, "9.9")
    main.vendor()
    add_patch(main, "fix.patch", "mod.py", "line 20\n", "line twenty\n")
    older = carry_and_commit(repo)
    # The fix grows on the main line: a second hunk.
    main.vendor()
    edit(repo, "mod.py", "line 5\n", "line five\n")
    main.export(topic="fix.patch")
    older.vendor()
    assert carry.carry("fix.patch", "9.9", since="HEAD", root=repo) == []
    older.export()
    patch = (repo / "lines/8.8/patches/fix.patch").read_text()
    assert "+line five" in patch and "+line twenty" in patch and "@@ -5,7 +5,7 @@" in patch
    assert (repo / "lines/8.8/series").read_text() == "fix.patch\n" and older.problems() == []


def test_a_later_fix_carries_only_the_files_of_its_patch(repo):
    main = queue_of(repo, "9.9")
    main.vendor()
    (repo / "src/diffusers/other.py").write_text("x = 1\n")
    main.export(topic="other.patch")  # before fix.patch in the series: fix.patch's commit holds other.py too
    add_patch(main, "fix.patch", "mod.py", "line 20\n", "line twenty\n")
    older = carry_and_commit(repo)
    # Both patches change on the main line; carrying fix.patch takes its own change, not other.patch's.
    main.vendor()
    edit(repo, "mod.py", "line 5\n", "line five\n")
    edit(repo, "other.py", "x = 1\n", "x = 2\n")
    main.export()
    older.vendor()
    assert carry.carry("fix.patch", "9.9", since="HEAD", root=repo) == []
    assert (
        not (repo / "src/diffusers/other.py").exists() and "line five" in (repo / "src/diffusers/mod.py").read_text()
    )
