"""Carry a patch from one line to another: git merges it three-way, with the source line's commits fetched.

    python -m forktools.carry PATCH --from 0.42 [--since REV]

src/diffusers must hold the target line with nothing unexported. The source line is built from its series in a scratch
repository and fetched. Without --since, the patch (new to the target line) is cherry-picked onto the target's last
patch, its message kept (`Forwarded:` becomes `Origin: backport, lines/<source>/patches/PATCH` when the source release
is newer). With --since REV (a git revision of this repository), what the patch changed in the source line since REV is
applied three-way to the target's patch of that name and committed as its fixup. A conflict leaves git's markers in the
files named: resolve them, then `git -C src/diffusers cherry-pick --continue` (a whole patch) or `git add`. Then
`make patches`.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .lines import ROOT, Line, materialized
from .queue import PatchQueueError, Queue, conflicts, git, pending


def source_commit(line, patch, scratch, repo):
    """Build `line` in the folder `scratch`, fetch it into `repo` and return the commit of `patch` there."""
    queue = Queue(line)
    queue.materialize(scratch)
    if patch not in queue.commits(scratch):
        raise PatchQueueError(f"{patch} is not in lines/{line.name}/series")
    git(repo, "fetch", "-q", "--no-tags", str(scratch), "HEAD")
    return queue.commits(scratch)[patch]


def committed_line(line, revision, folder):
    """The line's folder as committed at `revision`, in a scratch repository root `folder` that shares build/."""
    archive = subprocess.run(
        ["git", "-C", str(line.root), "archive", revision, f"lines/{line.name}"], capture_output=True
    )
    if archive.returncode:
        raise PatchQueueError(f"no lines/{line.name} at {revision}: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryFile() as tmp:
        tmp.write(archive.stdout)
        tmp.seek(0)
        tarfile.open(fileobj=tmp).extractall(folder, filter="data")
    shutil.copy(line.root / "fork.toml", Path(folder) / "fork.toml")
    (Path(folder) / "build").symlink_to(line.root / "build")
    return Line(line.name, folder)


def carry(patch, source_name, since=None, root=ROOT):
    """Carry `patch` into the line src/diffusers holds; returns the files left with conflicts."""
    state = materialized(root)
    if state is None or state["line"] == source_name:
        raise PatchQueueError(f"src/diffusers must hold the target line, not {source_name}: `make vendor LINE=...`")
    source, target = Line(source_name, root), Queue(Line(state["line"], root))
    repo = target.work
    if why := pending(repo):
        raise PatchQueueError(f"src/diffusers holds {why}: `make patches` first")
    with tempfile.TemporaryDirectory() as tmp:
        now = source_commit(source, patch, Path(tmp) / "now", repo)
        if since is None:
            message = git(repo, "log", "-1", "--format=%B", now).out
            if [int(n) for n in source.version.split(".")] > [int(n) for n in target.version.split(".")]:
                origin = f"Origin: backport, lines/{source.name}/patches/{patch}"
                message = re.sub(r"^Forwarded:.*(\n[ \t].*)*", origin, message, flags=re.M)
            author = dict(
                zip(("NAME", "EMAIL", "DATE"), git(repo, "log", "-1", "--format=%an%n%ae%n%aI", now).out.split("\n"))
            )
            env = {f"GIT_AUTHOR_{key}": value for key, value in author.items()}
            pick = git(
                repo, "commit-tree", f"{now}^{{tree}}", "-p", f"{now}^", "-F", "-", input=message.encode(), env=env
            ).out.strip()
            return [] if git(repo, "cherry-pick", pick, check=False).returncode == 0 else conflicts(repo).split(", ")
        then = source_commit(committed_line(source, since, Path(tmp) / "root"), patch, Path(tmp) / "then", repo)
        mine = target.commits(repo).get(patch)
        if mine is None:
            raise PatchQueueError(f"lines/{target.line.name} has no {patch}: carry it whole, without --since")
        touched = [
            git(repo, "diff-tree", "-r", "--name-only", "--no-commit-id", f"{c}^", c).out.split() for c in (then, now)
        ]
    diff = git(repo, "diff", "--full-index", "--no-renames", then, now, "--", *sorted(set(sum(touched, [])))).out
    if not diff:
        return []
    if git(repo, "apply", "-3", input=diff.encode(), check=False).returncode:
        return conflicts(repo).split(", ")
    git(repo, "commit", "-q", f"--fixup={mine}")
    return []


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m forktools.carry", description=__doc__.split("\n\n")[0])
    parser.add_argument("patch", help="the patch's file name in the source line's series")
    parser.add_argument("--from", dest="source", required=True, help="the source line")
    parser.add_argument("--since", help="carry only what changed in the patch since this git revision")
    args = parser.parse_args(argv)
    try:
        left = carry(args.patch, args.source, args.since)
    except PatchQueueError as err:
        print(f"carry: error: {err}", file=sys.stderr)
        return 1
    if left:
        print(
            f"CONFLICT in {', '.join(f'src/diffusers/{rel}' for rel in left)}: resolve (see `python -m forktools.carry -h`)"
        )
    else:
        print(f"{args.patch} carried: now `make patches`, then the line's tests")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
