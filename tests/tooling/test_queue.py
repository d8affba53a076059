"""The patch queue (forktools.queue), on small fake upstream archives and lines made here: no network."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from forktools import lines, queue as patchq
from tests.tooling.fake_lines import MODULE, fake_fork, write_pin


HEADER = "Description: {}\nBug: none\nForwarded: not-needed\n---\n"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    return fake_fork(tmp_path, monkeypatch, {"9.9.9": MODULE, "8.8.0": MODULE})


def queue_of(root, name=None):
    return patchq.Queue(lines.select(name, root=root, materialized_first=name is None))


def snapshot(folder):
    return {rel: (Path(folder) / rel).read_bytes() for rel in patchq.tree_files(folder)}


def edit(root, rel, old, new):
    path = root / "src" / "diffusers" / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def fill_header(root, name, description="test", line="9.9"):
    path = root / "lines" / line / "patches" / name
    path.write_text(HEADER.format(description) + path.read_text().split("---\n", 1)[1])


def test_vendor_stamps_version_and_is_repeatable(repo):
    queue = queue_of(repo)
    queue.vendor()
    assert (repo / "src/diffusers/__init__.py").read_text() == '__version__ = "9.9.9+test"\n'
    first = snapshot(repo / "src/diffusers")
    queue.vendor()
    assert snapshot(repo / "src/diffusers") == first
    assert queue.problems() == []


def test_lines_are_selected_and_told_apart(repo):
    assert queue_of(repo).line.name == "9.9"  # nothing materialized: the default line
    queue_of(repo, "8.8").vendor()
    assert (repo / "src/diffusers/__init__.py").read_text() == '__version__ = "8.8.0+test"\n'
    assert queue_of(repo).line.name == "8.8"  # the materialized line
    with pytest.raises(patchq.PatchQueueError, match="holds line 8.8, not 9.9"):
        queue_of(repo, "9.9").problems()
    with pytest.raises(lines.LineError, match="no line '7.7'"):
        lines.Line("7.7", repo)


def test_hash_mismatch_is_refused_and_nothing_is_extracted(repo):
    write_pin(repo, "9.9.9", "0" * 64)
    with pytest.raises(patchq.PatchQueueError, match="sha256 mismatch"):
        queue_of(repo).vendor()
    assert not (repo / "src" / "diffusers").exists()
    assert not (repo / "build" / "upstream" / "diffusers-9.9.9").exists()


def test_export_then_apply_round_trips_byte_identically(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 10\n", "line ten\n")
    (repo / "src/diffusers/new.py").write_text("no newline at end")
    queue.export(topic="0001-topic.patch")
    patch = (repo / "lines/9.9/patches/0001-topic.patch").read_bytes()
    assert (repo / "lines/9.9/series").read_text() == "0001-topic.patch\n"
    assert b"+++ b/src/diffusers/mod.py" in patch and b"--- /dev/null" in patch
    edited = snapshot(repo / "src/diffusers")
    # Fill in the header, as a developer would, then rebuild the tree from scratch and export again.
    fill_header(repo, "0001-topic.patch")
    text = (repo / "lines/9.9/patches/0001-topic.patch").read_text()
    queue.vendor(force=True)
    assert snapshot(repo / "src/diffusers") == edited
    queue.export()
    assert (repo / "lines/9.9/patches/0001-topic.patch").read_text() == text
    assert queue.problems() == []


def test_stacked_patches_share_a_file_and_edits_go_to_the_top(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 5\n", "line five\n")
    queue.export(topic="0001-low.patch")
    fill_header(repo, "0001-low.patch", "low")
    edit(repo, "mod.py", "line 25\n", "line twenty-five\n")
    (repo / "src/diffusers/top.py").write_text("top\n")
    queue.export(topic="0002-top.patch", files=["src/diffusers/top.py"])
    fill_header(repo, "0002-top.patch", "top")
    # mod.py is edited again: no patch of the two touches line 25 yet, and 0001 is the only one touching mod.py.
    queue.export()
    low = (repo / "lines/9.9/patches/0001-low.patch").read_text()
    assert "+line five" in low and "+line twenty-five" in low
    # Give mod.py to the top patch too: from now on its edits land there, and 0001 keeps its share.
    (repo / "lines/9.9/patches/0002-top.patch").write_text(
        HEADER.format("top")
        + patchq.unified_diff("top.py", None, b"top\n")
        + patchq.unified_diff("mod.py", low_after(repo), low_after(repo).replace(b"line 28\n", b"line 28!\n"))
    )
    queue.vendor(force=True)
    edit(repo, "mod.py", "line 15\n", "line fifteen\n")
    queue.export()
    low_again = (repo / "lines/9.9/patches/0001-low.patch").read_text()
    top = (repo / "lines/9.9/patches/0002-top.patch").read_text()
    assert low_again == low
    assert "+line fifteen" in top and "+line 28!" in top and "line five" not in top.split("@@")[-1]
    edited = snapshot(repo / "src/diffusers")
    queue.vendor(force=True)
    assert snapshot(repo / "src/diffusers") == edited
    assert queue.problems() == []


def test_a_new_topic_stacks_on_owned_files(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 5\n", "line five\n")
    queue.export(topic="0001-low.patch")
    fill_header(repo, "0001-low.patch", "low")
    low = (repo / "lines/9.9/patches/0001-low.patch").read_text()
    # quilt new: every file edited since the last export goes into the new patch, on top of 0001's share.
    edit(repo, "mod.py", "line 25\n", "line twenty-five\n")
    queue.export(topic="0002-top.patch")
    assert (repo / "lines/9.9/series").read_text() == "0001-low.patch\n0002-top.patch\n"
    assert (repo / "lines/9.9/patches/0001-low.patch").read_text() == low
    top = (repo / "lines/9.9/patches/0002-top.patch").read_text()
    assert "+line twenty-five" in top and "line five" not in top
    with pytest.raises(patchq.PatchQueueError, match="nothing for 0003-x.patch to take"):
        queue.export(topic="0003-x.patch")
    # Later edits to mod.py land in the top patch.
    fill_header(repo, "0002-top.patch", "top")
    edit(repo, "mod.py", "line 1\n", "line one\n")
    queue.export()
    assert (repo / "lines/9.9/patches/0001-low.patch").read_text() == low
    assert "+line one" in (repo / "lines/9.9/patches/0002-top.patch").read_text()
    edited = snapshot(repo / "src/diffusers")
    queue.vendor(force=True)
    assert snapshot(repo / "src/diffusers") == edited and queue.problems() == []


def test_files_left_out_of_a_topic_stay_edited_for_the_next(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 5\n", "line five\n")
    (repo / "src/diffusers/other.py").write_text("x = 1\n")
    queue.export(topic="0001-mod.patch", files=["src/diffusers/mod.py"])
    assert queue.edited() == ["other.py"]
    queue.export(topic="0002-other.patch")
    assert "+x = 1" in (repo / "lines/9.9/patches/0002-other.patch").read_text()
    assert "other.py" not in (repo / "lines/9.9/patches/0001-mod.patch").read_text()
    assert queue.edited() == []


def low_after(repo):
    return MODULE.replace("line 5\n", "line five\n").replace("line 25\n", "line twenty-five\n").encode()


def test_vendor_upto_edits_a_lower_patch(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 5\n", "line five\n")
    queue.export(topic="0001-low.patch")
    fill_header(repo, "0001-low.patch", "low")
    edit(repo, "mod.py", "line 25\n", "line twenty-five\n")
    (repo / "lines/9.9/patches/0002-top.patch").write_text(
        HEADER.format("top")
        + patchq.unified_diff("mod.py", low_after(repo).replace(b"line twenty-five\n", b"line 25\n"), low_after(repo))
    )
    (repo / "lines/9.9/series").write_text("0001-low.patch\n0002-top.patch\n")
    queue.vendor(force=True)
    queue.vendor(upto="0001-low.patch")
    assert "line twenty-five" not in (repo / "src/diffusers/mod.py").read_text()
    assert any("only up to 0001-low.patch" in p for p in queue.problems())
    edit(repo, "mod.py", "line 1\n", "line one\n")
    queue.export()
    assert "+line one" in (repo / "lines/9.9/patches/0001-low.patch").read_text()
    assert "line one" not in (repo / "lines/9.9/patches/0002-top.patch").read_text()
    queue.vendor()
    text = (repo / "src/diffusers/mod.py").read_text()
    assert "line one\n" in text and "line five\n" in text and "line twenty-five\n" in text
    assert queue.problems() == []


def test_check_catches_unexported_edit(repo):
    queue = queue_of(repo)
    queue.vendor()
    assert queue.problems() == []
    edit(repo, "mod.py", "line 3\n", "line three\n")
    assert any("src/diffusers/mod.py is edited but no patch owns it" in p for p in queue.problems())
    with pytest.raises(patchq.PatchQueueError, match="holds edits not exported"):
        queue.vendor()
    with pytest.raises(patchq.PatchQueueError, match="holds edits not exported"):
        queue_of(repo, "8.8").vendor()
    assert "line three" in (repo / "src/diffusers/mod.py").read_text()
    rc = subprocess.run(
        [sys.executable, "-m", "forktools.queue", "--root", str(repo), "check"],
        capture_output=True,
        cwd=lines.ROOT,
    )
    assert rc.returncode == 1 and b"no patch owns it" in rc.stderr


def test_patches_changed_under_an_unedited_tree_ask_for_vendor_not_export(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 3\n", "line three\n")
    queue.export(topic="0001-a.patch")
    fill_header(repo, "0001-a.patch")
    queue.vendor()
    # A pull brings a new version of the patch; src/diffusers holds no edit of ours.
    path = repo / "lines/9.9/patches/0001-a.patch"
    path.write_text(path.read_text().replace("+line three", "+line THREE"))
    problems = queue.problems()
    assert len(problems) == 1 and "changed since src/diffusers was materialized" in problems[0]
    queue.vendor()  # nothing of ours to lose, so no FORCE needed
    assert "line THREE" in (repo / "src/diffusers/mod.py").read_text()
    assert queue.problems() == []


def test_check_catches_series_and_header_problems(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 3\n", "line three\n")
    queue.export(topic="0001-a.patch")
    problems = queue.problems()
    assert any("header still has TODO" in p for p in problems)
    (repo / "lines/9.9/patches/0002-stray.patch").write_text("Description: x\n---\n")
    assert any("0002-stray.patch is not listed" in p for p in queue.problems())
    (repo / "lines/9.9/patches/0002-stray.patch").unlink()
    text = (repo / "lines/9.9/patches/0001-a.patch").read_text()
    (repo / "lines/9.9/patches/0001-a.patch").write_text(text.split("---\n", 1)[1])
    with pytest.raises(patchq.PatchQueueError, match="no header"):
        queue.problems()


def test_patch_that_does_not_apply_is_named_and_tree_is_kept(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 10\n", "line ten\n")
    queue.export(topic="0001-ok.patch")
    before = snapshot(repo / "src/diffusers")
    state = (repo / "src/.applied").read_text()
    # A second patch whose context is not in upstream.
    bad = HEADER.format("bad") + patchq.unified_diff(
        "other.py", b"nothing\nlike\nupstream\n", b"nothing\nlike\nours\n"
    )
    (repo / "lines/9.9/patches/0002-bad.patch").write_text(bad)
    (repo / "lines/9.9/series").write_text("0001-ok.patch\n0002-bad.patch\n")
    with pytest.raises(patchq.PatchQueueError, match=r"patch 0002-bad.patch does not apply to .*other.py"):
        queue.vendor(force=True)
    assert snapshot(repo / "src/diffusers") == before
    assert (repo / "src/.applied").read_text() == state


def test_patch_needing_an_offset_is_refused(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 20\n", "line twenty\n")
    queue.export(topic="0001-x.patch")
    before = snapshot(repo / "src/diffusers")
    path = repo / "lines/9.9/patches/0001-x.patch"
    text = path.read_text().replace("Description: TODO", "Description: x")
    # Move the hunk two lines away from where upstream has its context.
    path.write_text(text.replace("@@ -17,7 +17,7 @@", "@@ -15,7 +15,7 @@"))
    with pytest.raises(patchq.PatchQueueError, match="only with an offset"):
        queue.vendor(force=True)
    assert snapshot(repo / "src/diffusers") == before


def test_files_in_diff_reads_hunks_not_lines_that_look_like_headers():
    diff = patchq.unified_diff("a.py", b"x\n-- y\nz\n", b"x\nz\n") + patchq.unified_diff("b.py", None, b"new\n")
    assert "\n--- y\n" in diff
    assert patchq.files_in_diff(diff) == ["a.py", "b.py"]


def test_state_records_line_and_patches(repo):
    queue = queue_of(repo, "8.8")
    queue.vendor()
    state = json.loads((repo / "src/.applied").read_text())
    assert state == {"line": "8.8", "applied": [], "files": {}}


def test_conflict_markers_are_never_exported(repo):
    queue = queue_of(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 3\n", "<<<<<<< ours\nline three\n=======\nline 3!\n>>>>>>> theirs\n")
    with pytest.raises(patchq.PatchQueueError, match="merge conflict markers"):
        queue.export(topic="0001-x.patch")
    assert not (repo / "lines/9.9/patches/0001-x.patch").exists()
    # A patch that holds them anyway (written by hand) is flagged by the check.
    (repo / "lines/9.9/patches/0001-x.patch").write_text(
        HEADER.format("x")
        + patchq.unified_diff("mod.py", MODULE.encode(), (repo / "src/diffusers/mod.py").read_bytes())
    )
    (repo / "lines/9.9/series").write_text("0001-x.patch\n")
    assert any("adds merge conflict markers" in p for p in queue.problems())
