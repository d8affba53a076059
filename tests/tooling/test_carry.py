"""forktools.carry: a patch carried from one line to another by a three-way merge of each file, on fake lines."""

import pytest

from forktools import carry, lines, queue as patchq
from tests.tooling.fake_lines import MODULE, fake_fork


MAIN = MODULE
# The older release: the same module with three lines more at the top.
OLD = "old a\nold b\nold c\n" + MAIN


@pytest.fixture
def repo(tmp_path, monkeypatch):
    return fake_fork(tmp_path, monkeypatch, {"9.9.9": MAIN, "8.8.0": OLD})


def test_a_patch_is_carried_to_the_other_line_and_exported_there(repo):
    main = patchq.Queue(lines.Line("9.9", repo))
    main.vendor()
    mod = repo / "src/diffusers/mod.py"
    mod.write_text(mod.read_text().replace("line 20\n", "line twenty\n"))
    main.export(topic="0001-fix.patch")
    header = "Description: fix\nBug: none\nForwarded: no\n---\n"
    path = repo / "lines/9.9/patches/0001-fix.patch"
    path.write_text(header + path.read_text().split("---\n", 1)[1])

    older = patchq.Queue(lines.Line("8.8", repo))
    older.vendor()
    with pytest.raises(patchq.PatchQueueError, match="must hold the target line"):
        carry.carry("0001-fix.patch", "8.8", root=repo)
    assert carry.carry("0001-fix.patch", "9.9", root=repo) == [("mod.py", True)]
    assert mod.read_text() == OLD.replace("line 20\n", "line twenty\n")
    older.export(topic="0001-fix.patch")
    assert "@@ -20,7 +20,7 @@" in (repo / "lines/8.8/patches/0001-fix.patch").read_text()  # three lines lower


def test_a_conflict_is_written_with_markers_and_reported(repo):
    main = patchq.Queue(lines.Line("9.9", repo))
    main.vendor()
    mod = repo / "src/diffusers/mod.py"
    mod.write_text(mod.read_text().replace("line 2\n", "line two\n"))
    main.export(topic="0001-top.patch")
    older = patchq.Queue(lines.Line("8.8", repo))
    older.vendor()
    # The older line already changed that line its own way.
    (repo / "src/diffusers/mod.py").write_text(OLD.replace("line 2\n", "line 2 (old)\n"))
    assert carry.carry("0001-top.patch", "9.9", root=repo) == [("mod.py", False)]
    text = mod.read_text()
    assert "<<<<<<< line 8.8" in text and ">>>>>>> line 9.9 after" in text
