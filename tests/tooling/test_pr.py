"""`make pr`: one focused, `git am`-able patch and description per pull request of the line."""

import re
import subprocess
import sys

from forktools.lines import ROOT, select
from forktools.queue import Queue, git
from forktools.upstream import pr as make_pr


def test_each_pr_is_its_patches_alone_with_its_behaviour_changes(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "forktools.upstream.pr", "--check", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    queue = Queue(select(materialized_first=True))
    prs = queue.line.pull_requests
    written = sorted(p.name for p in (tmp_path / queue.line.name).iterdir())
    assert written == sorted(f"{i:02d}-{pr['name']}.{ext}" for i, pr in enumerate(prs, 1) for ext in ("md", "patch"))
    for number, pr in enumerate(prs, 1):
        mail = (tmp_path / queue.line.name / f"{number:02d}-{pr['name']}.patch").read_text()
        assert mail.startswith("From ") and f"\nSubject: [PATCH] {pr['title']}\n" in mail
        related = {**queue.line.config.get("pr_defaults", {}), **pr}.get("related")
        assert related is None or f"Related to {related}." in mail and f"Fixes {related}" not in mail
        # Exactly the files of its own patches, nothing from the rest of the series.
        source = mail.split("\n---\n", 1)[1].split("\ndiff --git a/tests/", 1)[0]
        diffs = "".join(queue.read_patch(name)[1] for name in pr["patches"])
        assert set(re.findall(r"^diff --git a/(\S+) ", diffs, re.M)) == set(
            line.split(" b/", 1)[1] for line in source.splitlines() if line.startswith("diff --git ")
        )
        body = (tmp_path / queue.line.name / f"{number:02d}-{pr['name']}.md").read_text()
        assert "## Behaviour changes" in body and "## Before / after" in body
        assert all(change in body for change in pr["changes"])
        if not make_pr.tests_diff(queue.line, pr):
            # No upstream test files to patch: the whole mail `git am`s on pristine upstream.
            repo = tmp_path / f"upstream-{number}"
            make_pr.pristine_repo(queue, str(repo))
            git(repo, "am", tmp_path / queue.line.name / f"{number:02d}-{pr['name']}.patch")  # raises if it fails


def test_every_patch_meant_for_upstream_is_in_one_pr_and_no_fork_only_patch_is():
    queue = Queue(select(materialized_first=True))
    in_prs = [name for pr in queue.line.pull_requests for name in pr["patches"]]
    assert len(in_prs) == len(set(in_prs))
    for name in queue.series():
        forwarded = queue.header(name)[0].get("Forwarded", "").lower()
        if queue.line.pull_requests:
            assert (name in in_prs) == (not forwarded.startswith("not-needed") and "candidate" not in forwarded), name


def test_added_tests_are_read_from_a_diff_of_upstream_tests():
    diff = (
        "diff --git a/tests/x/test_a.py b/tests/x/test_a.py\n--- a/tests/x/test_a.py\n+++ b/tests/x/test_a.py\n"
        "@@ -10,3 +10,6 @@ class FastTests(unittest.TestCase):\n     def test_old(self):\n         pass\n+\n"
        "+    def test_new(self):\n+        assert True\n"
    )
    assert make_pr.added_tests(diff) == [("tests/x/test_a.py", "FastTests", "test_new")]
