"""`make pr`: the exported patch is git-am-able on pristine upstream and carries the source changes and the tests."""

import os
import subprocess
import sys

from forktools.upstream import pr as make_pr
from forktools import queue as patchq


def test_pr_patch_applies_to_pristine_upstream(tmp_path):
    out = tmp_path / "pr"
    proc = subprocess.run(
        [sys.executable, "-m", "forktools.upstream.pr", "--check", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=make_pr.ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "applies to pristine diffusers" in proc.stdout
    patches = sorted(p for p in os.listdir(out) if p.endswith(".patch"))
    assert len(patches) == 1 and patches[0].startswith("0001-")
    text = (out / patches[0]).read_text()
    assert text.startswith("From ") and "\nSubject: [PATCH] " in text
    queue = patchq.Queue(make_pr.select(materialized_first=True))
    for name in make_pr.forwarded_patches(queue):
        for rel in patchq.files_in_diff(queue.read_patch(name)[1]):
            assert f"diff --git a/src/diffusers/{rel} b/src/diffusers/{rel}" in text
    for rel in make_pr.UPSTREAM_TESTS:
        assert f"diff --git a/{rel} b/{rel}" in text
    body = (out / "PR.md").read_text()
    assert "#11117" in body and "## Before / after" in body

    # `git am` takes it on a repository holding pristine upstream.
    repo = tmp_path / "upstream"
    make_pr.pristine_repo(queue, str(repo))
    am = make_pr.git("am", str(out / patches[0]), cwd=str(repo), check=False)
    assert am.returncode == 0, am.stderr
