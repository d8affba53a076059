"""The patch-queue tooling (utils/patchq.py), on small fake upstream archives made here: no network."""

import hashlib
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import patchq


MODULE = "".join(f"line {i}\n" for i in range(1, 31))


def make_archive(path, version="9.9.9", files=None):
    files = files or {"__init__.py": f'__version__ = "{version}"\n', "mod.py": MODULE}
    with tarfile.open(path, "w:gz") as tar:
        entries = {f"diffusers-{version}/PKG-INFO": "Name: diffusers\nRequires-Dist: numpy\n"}
        entries.update({f"diffusers-{version}/src/diffusers/{rel}": text for rel, text in files.items()})
        for name, text in entries.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    digest = make_archive(cache / "diffusers-9.9.9.tar.gz")
    monkeypatch.setenv("FORK_CACHE_DIR", str(cache))
    root = tmp_path / "repo"
    (root / "patches").mkdir(parents=True)
    (root / "patches" / "series").write_text("")
    write_pin(root, digest)
    return root


def write_pin(root, digest):
    (root / "upstream.toml").write_text(
        '[upstream]\nname = "diffusers"\nversion = "9.9.9"\nsdist = "diffusers-9.9.9.tar.gz"\n'
        f'sha256 = "{digest}"\n[fork]\nlocal_label = "test"\n'
    )


def snapshot(folder):
    return {rel: (Path(folder) / rel).read_bytes() for rel in patchq.tree_files(folder)}


def edit(root, rel, old, new):
    path = root / "src" / "diffusers" / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_vendor_stamps_version_and_is_repeatable(repo):
    queue = patchq.Queue(repo)
    queue.vendor()
    assert (repo / "src/diffusers/__init__.py").read_text() == '__version__ = "9.9.9+test"\n'
    first = snapshot(repo / "src/diffusers")
    queue.vendor()
    assert snapshot(repo / "src/diffusers") == first
    assert queue.problems() == []


def test_hash_mismatch_is_refused_and_nothing_is_extracted(repo):
    write_pin(repo, "0" * 64)
    with pytest.raises(patchq.PatchQueueError, match="sha256 mismatch"):
        patchq.Queue(repo).vendor()
    assert not (repo / "src" / "diffusers").exists()
    assert not (repo / "build" / "upstream" / "diffusers-9.9.9").exists()


def test_export_then_apply_round_trips_byte_identically(repo):
    queue = patchq.Queue(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 10\n", "line ten\n")
    (repo / "src/diffusers/new.py").write_text("no newline at end")
    queue.export(topic="0001-topic.patch")
    patch = (repo / "patches/0001-topic.patch").read_bytes()
    assert (repo / "patches/series").read_text() == "0001-topic.patch\n"
    assert b"+++ b/src/diffusers/mod.py" in patch and b"--- /dev/null" in patch
    edited = snapshot(repo / "src/diffusers")
    # Fill in the header, as a developer would, then rebuild the tree from scratch and export again.
    header = "Description: test\nBug: none\nForwarded: not-needed\n---\n"
    text = (repo / "patches/0001-topic.patch").read_text()
    (repo / "patches/0001-topic.patch").write_text(header + text.split("---\n", 1)[1])
    queue.vendor(force=True)
    assert snapshot(repo / "src/diffusers") == edited
    queue.export()
    assert (repo / "patches/0001-topic.patch").read_text() == header + text.split("---\n", 1)[1]
    assert queue.problems() == []


def test_check_catches_unexported_edit(repo):
    queue = patchq.Queue(repo)
    queue.vendor()
    assert queue.problems() == []
    edit(repo, "mod.py", "line 3\n", "line three\n")
    assert any("src/diffusers/mod.py is edited but no patch owns it" in p for p in queue.problems())
    with pytest.raises(patchq.PatchQueueError, match="holds edits not exported"):
        queue.vendor()
    assert "line three" in (repo / "src/diffusers/mod.py").read_text()
    rc = subprocess.run([sys.executable, patchq.__file__, "--root", str(repo), "check"], capture_output=True)
    assert rc.returncode == 1 and b"no patch owns it" in rc.stderr


def test_check_catches_series_and_header_problems(repo):
    queue = patchq.Queue(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 3\n", "line three\n")
    queue.export(topic="0001-a.patch")
    problems = queue.problems()
    assert any("header still has TODO" in p for p in problems)
    (repo / "patches/0002-stray.patch").write_text("Description: x\n---\n")
    assert any("0002-stray.patch is not listed" in p for p in queue.problems())
    (repo / "patches/0002-stray.patch").unlink()
    text = (repo / "patches/0001-a.patch").read_text()
    (repo / "patches/0001-a.patch").write_text(text.split("---\n", 1)[1])
    with pytest.raises(patchq.PatchQueueError, match="no header"):
        queue.problems()


def test_patch_that_does_not_apply_is_named_and_tree_is_kept(repo):
    queue = patchq.Queue(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 10\n", "line ten\n")
    queue.export(topic="0001-ok.patch")
    before = snapshot(repo / "src/diffusers")
    # A second patch whose context is not in upstream.
    bad = "Description: bad\nBug: none\nForwarded: no\n---\n" + patchq.unified_diff(
        "mod.py", b"nothing\nlike\nupstream\n", b"nothing\nlike\nours\n"
    )
    (repo / "patches/0002-bad.patch").write_text(bad)
    (repo / "patches/series").write_text("0001-ok.patch\n0002-bad.patch\n")
    with pytest.raises(patchq.PatchQueueError, match=r"patch 0002-bad.patch does not apply to src/diffusers/mod.py"):
        queue.vendor(force=True)
    assert snapshot(repo / "src/diffusers") == before


def test_patch_needing_an_offset_is_refused(repo):
    queue = patchq.Queue(repo)
    queue.vendor()
    edit(repo, "mod.py", "line 20\n", "line twenty\n")
    queue.export(topic="0001-x.patch")
    before = snapshot(repo / "src/diffusers")
    text = (repo / "patches/0001-x.patch").read_text().replace("Description: TODO", "Description: x")
    # Move the hunk two lines away from where upstream has its context.
    (repo / "patches/0001-x.patch").write_text(text.replace("@@ -17,7 +17,7 @@", "@@ -15,7 +15,7 @@"))
    with pytest.raises(patchq.PatchQueueError, match="only with an offset"):
        queue.vendor(force=True)
    assert snapshot(repo / "src/diffusers") == before


def test_files_in_diff_reads_hunks_not_lines_that_look_like_headers():
    diff = patchq.unified_diff("a.py", b"x\n-- y\nz\n", b"x\nz\n")
    assert "\n--- y\n" in diff
    assert patchq.files_in_diff(diff) == ["a.py"]
