"""The patch queue on git (forktools.queue), on small fake upstream archives and lines made here: no network."""

import subprocess
import sys
from pathlib import Path

import pytest

from forktools import lines, queue as patchq
from tests.tooling.fake_lines import MODULE, add_patch, edit, fake_fork, fill_header, queue_of, release, write_pin


@pytest.fixture
def repo(tmp_path, monkeypatch):
    return fake_fork(tmp_path, monkeypatch, {"9.9.9": MODULE, "8.8.0": MODULE})


def snapshot(folder):
    """{file: bytes} of a tree, its .git aside."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(folder).parts
    }


def patch_text(repo, name, line="9.9"):
    return (repo / "lines" / line / "patches" / name).read_text()


def git(repo, *args):
    return patchq.git(repo / "src" / "diffusers", *args).out


def test_vendor_builds_a_git_repository_of_the_release_then_the_series(repo):
    queue = queue_of(repo)
    assert queue.vendor() is True
    assert (repo / "src/diffusers/__init__.py").read_text() == '__version__ = "9.9.9+test"\n'
    assert git(repo, "log", "--format=%s", "upstream").strip() == "diffusers 9.9.9"
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "exported")
    add_patch(queue, "fix.patch", "mod.py", "line 10\n", "line ten\n")
    assert git(repo, "log", "--format=%s", "upstream..").strip() == "a fix"
    first, head = snapshot(repo / "src/diffusers"), git(repo, "rev-parse", "HEAD")
    queue.vendor()
    # The same queue gives the same tree and the same commits (fixed identity and dates).
    assert snapshot(repo / "src/diffusers") == first and git(repo, "rev-parse", "HEAD") == head
    assert queue.problems() == [] and lines.materialized(repo) == {"line": "9.9", "applied": ["fix.patch"]}


def test_lines_are_selected_and_told_apart(repo):
    assert queue_of(repo).line.name == "9.9"  # nothing materialized: the default line
    queue_of(repo, "8.8").vendor()
    assert (repo / "src/diffusers/__init__.py").read_text() == '__version__ = "8.8.0+test"\n'
    assert queue_of(repo).line.name == "8.8"  # the materialized line
    with pytest.raises(patchq.PatchQueueError, match="holds line 8.8, not 9.9"):
        queue_of(repo, "9.9").problems()
    with pytest.raises(lines.LineError, match="no line '7.7'"):
        lines.Line("7.7", repo)


def test_a_sha256_mismatch_extracts_nothing(repo):
    write_pin(repo, "9.9.9", "0" * 64)
    with pytest.raises(patchq.PatchQueueError, match="sha256 mismatch"):
        queue_of(repo).vendor()
    assert not (repo / "src" / "diffusers").exists()
    assert not (repo / "build" / "upstream" / "diffusers-9.9.9").exists()


def test_a_new_topic_is_a_format_patch_mail_that_round_trips_byte_identically(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 10\n", "line ten\n")
    (repo / "src/diffusers/new.py").write_text("no newline at end")
    assert queue.export(topic="topic.patch") == (["topic.patch"], [])
    text = patch_text(repo, "topic.patch")
    assert (repo / "lines/9.9/series").read_text() == "topic.patch\n"
    assert text.startswith("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n")
    assert "\nDate: Thu, 1 Jan 2026 00:00:00 +0000\nSubject: TODO one line" in text and "Patch-Filename" not in text
    assert "\ndiff --git a/src/diffusers/mod.py b/src/diffusers/mod.py\n" in text and "\n--- /dev/null\n" in text
    assert "\nindex " not in text and "[PATCH" not in text and text.endswith("\\ No newline at end of file\n")
    assert any("header still has TODO" in p for p in queue.problems())
    edited = snapshot(repo / "src/diffusers")
    # The header is filled in in the patch file, then built into src/diffusers; exporting again changes no byte.
    fill_header(queue, "topic.patch", subject="Mod: line ten")
    filled = patch_text(repo, "topic.patch")
    assert snapshot(repo / "src/diffusers") == edited
    assert git(repo, "log", "-1", "--format=%s").strip() == "Mod: line ten"
    queue.export()
    assert patch_text(repo, "topic.patch") == filled and queue.problems() == []
    fields, paragraphs = queue.header("topic.patch")
    assert fields["Subject"] == "Mod: line ten" and paragraphs == ["Why it exists."] and fields["Bug"] == "none"


def test_an_unexported_edit_fails_check_and_vendor_refuses_to_discard_it_unless_forced(repo):
    queue = queue_of(repo)
    queue.vendor()
    add_patch(queue, "fix.patch", "mod.py", "line 10\n", "line ten\n")
    edit(repo, "mod.py", "line 3\n", "line three\n")
    assert queue.problems() == ["src/diffusers holds edits not exported (src/diffusers/mod.py): run `make patches`"]
    proc = subprocess.run(
        [sys.executable, "-m", "forktools.queue", "--root", str(repo), "check"], capture_output=True, cwd=lines.ROOT
    )
    assert proc.returncode == 1 and b"edits not exported (src/diffusers/mod.py)" in proc.stderr
    for line in ("9.9", "8.8"):
        with pytest.raises(patchq.PatchQueueError, match="holds edits not exported"):
            queue_of(repo, line).vendor()
    assert "line three" in (repo / "src/diffusers/mod.py").read_text()
    # Committed in src/diffusers but not exported: still refused, and the check names the patch.
    git(repo, "commit", "-q", "-a", "--fixup=HEAD")
    assert queue.problems() == ["src/diffusers holds fixup commits not squashed yet: run `make patches`"]
    with pytest.raises(patchq.PatchQueueError, match="commits not exported"):
        queue.vendor()
    queue.vendor(force=True)
    assert "line three" not in (repo / "src/diffusers/mod.py").read_text() and queue.problems() == []


def test_an_edit_goes_into_the_last_patch_that_touches_its_file(repo):
    queue = queue_of(repo)
    queue.vendor()
    add_patch(queue, "low.patch", "mod.py", "line 5\n", "line five\n")
    low = patch_text(repo, "low.patch")
    edit(repo, "mod.py", "line 25\n", "line twenty-five\n")
    (repo / "src/diffusers/top.py").write_text("top\n")
    queue.export(topic="top.patch")
    fill_header(queue, "top.patch", subject="top")
    edit(repo, "mod.py", "line 15\n", "line fifteen\n")
    queue.export()
    assert patch_text(repo, "low.patch") == low and "+line fifteen" in patch_text(repo, "top.patch")
    (repo / "src/diffusers/stray.py").write_text("x = 1\n")
    with pytest.raises(patchq.PatchQueueError, match="no patch touches src/diffusers/stray.py"):
        queue.export()
    (repo / "src/diffusers/stray.py").unlink()
    edited = snapshot(repo / "src/diffusers")
    queue.vendor()
    assert snapshot(repo / "src/diffusers") == edited and queue.problems() == []


def test_a_fixup_of_an_earlier_patch_rewrites_only_that_patch(repo):
    queue = queue_of(repo)
    queue.vendor()
    add_patch(queue, "low.patch", "mod.py", "line 5\n", "line five\n")
    add_patch(queue, "top.patch", "mod.py", "line 25\n", "line twenty-five\n", subject="top")
    low, top = patch_text(repo, "low.patch"), patch_text(repo, "top.patch")
    edit(repo, "mod.py", "line 7\n", "line seven\n")
    queue.export(topic="low.patch")  # a fixup commit, squashed into low.patch by `git rebase --autosquash`
    assert patch_text(repo, "top.patch") == top  # below it in the same file, and byte-identical
    assert patch_text(repo, "low.patch") != low and "+line seven" in patch_text(repo, "low.patch")
    assert git(repo, "log", "--format=%s", "upstream..").split("\n")[:2] == ["top", "a fix"]
    edited = snapshot(repo / "src/diffusers")
    queue.vendor()
    assert snapshot(repo / "src/diffusers") == edited and queue.problems() == []


def test_a_new_topic_with_files_leaves_the_other_edits_unexported(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 5\n", "line five\n")
    (repo / "src/diffusers/other.py").write_text("x = 1\n")
    assert queue.export(topic="mod.patch", files=["src/diffusers/mod.py"]) == (["mod.patch"], ["other.py"])
    assert "other.py" not in patch_text(repo, "mod.patch")
    # the other edit is left unstaged, so that filling in the new patch's header (`git commit --amend`) leaves it out
    assert git(repo, "diff", "--cached", "--name-only") == ""
    assert "src/diffusers holds edits not exported (src/diffusers/other.py): run `make patches`" in queue.problems()
    queue.export(topic="other.patch")
    assert (repo / "lines/9.9/series").read_text() == "mod.patch\nother.patch\n"
    assert "+x = 1" in patch_text(repo, "other.patch") and "line five" not in patch_text(repo, "other.patch")
    assert all("TODO" in p for p in queue.problems())


def test_patch_files_changed_under_an_unedited_tree_ask_for_vendor(repo):
    queue = queue_of(repo)
    queue.vendor()
    add_patch(queue, "fix.patch", "mod.py", "line 3\n", "line three\n")
    path = repo / "lines/9.9/patches/fix.patch"
    path.write_text(path.read_text().replace("+line three", "+line THREE"))  # a pull brings a new version
    assert queue.problems() == ["lines/9.9/patches changed since src/diffusers was built (fix.patch): `make vendor`"]
    with pytest.raises(patchq.PatchQueueError, match="changed since src/diffusers was built"):
        queue.export()  # never overwrites them
    queue.vendor()  # nothing of ours to lose, so no FORCE needed
    assert "line THREE" in (repo / "src/diffusers/mod.py").read_text() and queue.problems() == []


def test_check_catches_series_and_header_problems(repo):
    queue = queue_of(repo)
    queue.vendor()
    add_patch(queue, "fix.patch", "mod.py", "line 3\n", "line three\n")
    (repo / "lines/9.9/patches/stray.patch").write_text("x")
    assert queue.problems() == ["lines/9.9/patches/stray.patch is not listed in lines/9.9/series"]
    (repo / "lines/9.9/patches/stray.patch").unlink()
    path = repo / "lines/9.9/patches/fix.patch"
    text = path.read_text()
    path.write_text(text.replace("Forwarded: no\n", ""))
    assert "lines/9.9/patches/fix.patch: header lacks Forwarded" in queue.problems()
    path.write_text(text.replace("Forwarded: no\n", "Origin: backport, lines/8.8/patches/fix.patch\n"))
    assert not any("header lacks" in p for p in queue.problems())  # DEP-3: a backport says where it comes from
    path.write_text(text.split("\ndiff --git", 1)[0])
    with pytest.raises(patchq.PatchQueueError, match="not a `git format-patch` mail"):
        queue.problems()


def test_a_patch_that_does_not_apply_is_named_and_the_tree_is_kept(repo):
    queue = queue_of(repo)
    queue.vendor()
    add_patch(queue, "ok.patch", "mod.py", "line 10\n", "line ten\n")
    before, state = snapshot(repo / "src/diffusers"), (repo / "src/.applied").read_text()
    bad = patch_text(repo, "ok.patch").replace(" line 9\n", " line nine\n")  # context upstream does not have
    (repo / "lines/9.9/patches/bad.patch").write_text(bad.replace("+line ten", "+line 10!"))
    (repo / "lines/9.9/series").write_text("ok.patch\nbad.patch\n")
    with pytest.raises(patchq.PatchQueueError, match="patch bad.patch does not apply to diffusers 9.9.9: .*mod.py"):
        queue.vendor(force=True)
    assert snapshot(repo / "src/diffusers") == before and (repo / "src/.applied").read_text() == state


def test_a_patch_applied_with_an_offset_is_rewritten_exact(repo):
    queue = queue_of(repo)
    queue.vendor()
    add_patch(queue, "x.patch", "mod.py", "line 20\n", "line twenty\n")
    exact = patch_text(repo, "x.patch")
    (repo / "lines/9.9/patches/x.patch").write_text(exact.replace("@@ -17,7 +17,7 @@", "@@ -15,7 +15,7 @@"))
    assert queue.vendor() is False  # git am moved the hunk two lines
    assert queue.problems() == ["lines/9.9/patches/x.patch differs from src/diffusers's commits: `make patches`"]
    queue.export()
    assert patch_text(repo, "x.patch") == exact and queue.problems() == []


def test_conflict_markers_are_never_exported(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 3\n", "<<<<<<< ours\nline three\n=======\nline 3!\n>>>>>>> theirs\n")
    with pytest.raises(patchq.PatchQueueError, match="merge conflict markers"):
        queue.export(topic="x.patch")
    assert not (repo / "lines/9.9/patches/x.patch").exists() and git(repo, "log", "--format=%s", "upstream..") == ""


def test_a_bump_rebases_the_patches_onto_the_new_release(repo):
    queue = queue_of(repo)
    queue.vendor()
    add_patch(queue, "fix.patch", "mod.py", "line 20\n", "line twenty\n")
    # 9.9.10 changes a line inside the patch's context: `git am` refuses the patch, a three-way rebase merges it.
    release(repo, "9.9.10", MODULE.replace("line 22\n", "line 22 (new)\n"), line="9.9")
    queue = queue_of(repo)
    with pytest.raises(patchq.PatchQueueError, match="patch fix.patch does not apply to diffusers 9.9.10"):
        queue.vendor()
    queue.rebase()
    queue.export()
    assert " line 22 (new)\n" in patch_text(repo, "fix.patch") and "+line twenty" in patch_text(repo, "fix.patch")
    assert (repo / "src/diffusers/__init__.py").read_text() == '__version__ = "9.9.10+test"\n'
    edited = snapshot(repo / "src/diffusers")
    queue.vendor()
    assert snapshot(repo / "src/diffusers") == edited and queue.problems() == []
    # 9.9.11 changes the patched line itself: the rebase stops at the conflict, and the check says so.
    release(repo, "9.9.11", MODULE.replace("line 20\n", "line 20 (new)\n"), line="9.9")
    queue = queue_of(repo)
    with pytest.raises(patchq.PatchQueueError, match="a patch conflicts with diffusers 9.9.11 in mod.py"):
        queue.rebase()
    assert any("`git rebase` stopped half-way" in p for p in queue.problems())


def test_header_reads_the_dep3_fields_of_a_mail(repo):
    header = (
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: A <a@b.c>\n"
        "Date: Thu, 1 Jan 2026 00:00:00 +0000\nSubject: A subject long enough that git folds it onto a second\n"
        " line\n\nFirst paragraph,\ntwo lines.\n\nSecond.\n\nBug: none\nForwarded: not-needed (a reason that\n"
        " goes on)\n\n"
    )
    (repo / "lines/9.9/patches/x.patch").write_text(
        header + "diff --git a/src/diffusers/mod.py b/src/diffusers/mod.py\n"
    )
    fields, paragraphs = queue_of(repo).header("x.patch")
    assert fields["Subject"] == "A subject long enough that git folds it onto a second line"
    assert paragraphs == ["First paragraph, two lines.", "Second."]
    assert fields["Bug"] == "none" and fields["Forwarded"] == "not-needed (a reason that goes on)"
