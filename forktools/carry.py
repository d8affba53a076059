"""Carry a patch to the line src/diffusers holds, by git, with the source line's commits fetched (CONTRIBUTING.md).

    python -m forktools.carry PATCH --from 0.42 [--since REV]

Without --since, the patch is cherry-picked onto the target's last patch (from a newer release, its `Forwarded:`
becomes `Origin: backport, lines/<source>/patches/PATCH`); with --since REV (a revision of this repository), what the
patch gained in the source line since REV is applied three-way, as a fixup of the target's patch of that name.
"""

import argparse
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .lines import ROOT, Line, materialized
from .queue import PatchQueueError, Queue, conflicts, git, pending


def fetch_patch(line, patch, scratch, repo):
    """Build `line` in the folder `scratch`, fetch its commits into `repo`; returns the commit of `patch`."""
    Queue(line).materialize(scratch)
    if (commit := Queue(line).commits(scratch).get(patch)) is None:
        raise PatchQueueError(f"{patch} is not in lines/{line.name}/series")
    git(repo, "fetch", "-q", "--no-tags", str(scratch), "HEAD")
    return commit


def committed_line(line, revision, folder):
    """The line as committed at `revision`, in a scratch repository root `folder` that shares this one's build/."""
    cmd = ["git", "-C", str(line.root), "archive", revision, f"lines/{line.name}"]
    if (archive := subprocess.run(cmd, capture_output=True)).returncode:
        raise PatchQueueError(f"no lines/{line.name} at {revision}: {archive.stderr.decode().strip()}")
    tarfile.open(fileobj=io.BytesIO(archive.stdout)).extractall(folder, filter="data")
    shutil.copy(line.root / "fork.toml", Path(folder) / "fork.toml")
    (Path(folder) / "build").symlink_to(line.root / "build")
    return Line(line.name, folder)


def carry(patch, source_name, since=None, root=ROOT):
    """Carry `patch` into the line src/diffusers holds; returns the files left with conflicts."""
    if (state := materialized(root)) is None or state["line"] == source_name:
        raise PatchQueueError(f"src/diffusers must hold the target line, not {source_name}: `make vendor LINE=...`")
    source, target = Line(source_name, root), Queue(Line(state["line"], root))
    if why := pending(repo := target.work):
        raise PatchQueueError(f"src/diffusers holds {why}: `make patches` first")
    with tempfile.TemporaryDirectory() as tmp:
        now = fetch_patch(source, patch, Path(tmp) / "now", repo)
        if since is None:
            message = git(repo, "log", "-1", "--format=%B", now).out
            if [int(n) for n in source.version.split(".")] > [int(n) for n in target.version.split(".")]:
                origin = f"Origin: backport, lines/{source.name}/patches/{patch}"
                message = re.sub(r"^Forwarded:.*(\n[ \t].*)*", origin, message, flags=re.M)
            who = git(repo, "show", "-s", "--format=%an%n%ae%n%aI", now).out.split("\n")
            author = {f"GIT_AUTHOR_{key}": value for key, value in zip(("NAME", "EMAIL", "DATE"), who)}
            tree = ["commit-tree", f"{now}^{{tree}}", "-p", f"{now}^", "-F", "-"]
            pick = git(repo, *tree, input=message.encode(), env=author).out.strip()  # the patch, its message rewritten
            return conflicts(repo) if git(repo, "cherry-pick", pick, check=False).returncode else []
        then = fetch_patch(committed_line(source, since, Path(tmp) / "root"), patch, Path(tmp) / "then", repo)
        if (mine := target.commits(repo).get(patch)) is None:
            raise PatchQueueError(f"lines/{target.line.name} has no {patch}: carry it whole, without --since")
        touched = {
            rel
            for c in (then, now)
            for rel in git(repo, "diff", "--name-only", "--no-renames", f"{c}^", c).out.split()
        }
    diff = git(repo, "diff", "--full-index", "--no-renames", then, now, "--", *sorted(touched))
    if diff.out and git(repo, "apply", "-3", input=diff.stdout, check=False).returncode:
        return conflicts(repo)
    if diff.out:
        git(repo, "commit", "-q", f"--fixup={mine}")
    return []


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m forktools.carry", description=__doc__.split("\n\n")[0])
    parser.add_argument("patch", help="the patch's file name in the source line's series")
    parser.add_argument("--from", dest="source", required=True, help="the source line")
    parser.add_argument("--since", help="carry only what the patch gained since this git revision")
    args = parser.parse_args(argv)
    try:
        if left := carry(args.patch, args.source, args.since):
            print(
                f"CONFLICT in {', '.join('src/diffusers/' + rel for rel in left)}: resolve them, `git add`, then "
                "`git -C src/diffusers cherry-pick --continue` (a whole patch) or `make patches TOPIC=<patch>` (--since)"
            )
            return 1
    except PatchQueueError as err:
        print(f"carry: error: {err}", file=sys.stderr)
        return 1
    print(f"{args.patch} carried: now `make patches`, then the line's tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
