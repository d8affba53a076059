"""Carry a patch from one line to another by a three-way merge of each file it touches.

    python -m forktools.carry PATCH --from 0.42 [--since REV] [--at REV]

src/diffusers must hold the target line (`make vendor LINE=0.39 UPTO=<the patch before PATCH there>`, or the whole
series when the patch is new to it). For each file PATCH touches, `git merge-file` merges into the target's file the
change PATCH makes in the source line: from the file as the source series leaves it before PATCH to the file after it
(with `--since REV`: from the file after PATCH as committed at REV to the file after PATCH now, to carry a later fix of
a patch both lines have; with `--at REV`, the source line as committed at REV, to carry a patch across an upstream
bump of its own line). Clean merges are written; a conflict is written with git's markers and named. Then resolve
the conflicts, `make patches` (TOPIC=PATCH for a patch new to the target line), `make vendor OFFSETS=1` and
`make patches` again to rewrite the patches above it, `make check-patches`, and run the line's tests.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .lines import ROOT, Line, materialized
from .queue import GIT_ENV, PatchQueueError, Queue


def source_states(line, patch):
    """({file: bytes or None} before `patch`, {file: bytes or None} after it) in the source line's series."""
    queue = Queue(line)
    names = queue.series()
    if patch not in names:
        raise PatchQueueError(f"{patch} is not in lines/{line.name}/series")
    queue.ensure_pristine()
    upto = names[: names.index(patch) + 1]
    touched = queue.touched([patch])[patch]
    before, after = queue.stages(upto)
    return {rel: before[patch][rel] for rel in touched}, {rel: after[rel] for rel in touched}


def committed_line(line, revision, folder):
    """The source line's folder as committed at `revision`, in a scratch repository root `folder`."""
    folder = Path(folder)
    shutil.copy(line.root / "fork.toml", folder / "fork.toml")
    prefix = f"lines/{line.name}"
    listing = subprocess.run(
        ["git", "-C", str(line.root), "ls-tree", "-r", "--name-only", revision, prefix],
        capture_output=True,
        text=True,
        env=GIT_ENV,
        check=True,
    ).stdout.split()
    for rel in listing:
        data = subprocess.run(["git", "-C", str(line.root), "show", f"{revision}:{rel}"], capture_output=True).stdout
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    (folder / "build").symlink_to(line.root / "build")
    return Line(line.name, folder)


def merge(ours, base, theirs, labels):
    """git merge-file of three byte strings: (merged bytes, clean)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            paths[name] = Path(tmp, name)
            paths[name].write_bytes(data or b"")
        cmd = ["git", "merge-file", "-L", labels[0], "-L", labels[1], "-L", labels[2]]
        proc = subprocess.run([*cmd, str(paths["ours"]), str(paths["base"]), str(paths["theirs"])], env=GIT_ENV)
        return paths["ours"].read_bytes(), proc.returncode == 0


def carry(patch, source_name, since=None, at=None, root=ROOT):
    state = materialized(root)
    if state is None or (state["line"] == source_name and at is None):
        raise PatchQueueError(f"src/diffusers must hold the target line, not {source_name}: `make vendor LINE=...`")
    target = Queue(Line(state["line"], root))
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as tmp_since:
        source = committed_line(Line(source_name, root), at, tmp) if at else Line(source_name, root)
        if since is None:
            base, theirs = source_states(source, patch)
        else:
            _, base = source_states(committed_line(Line(source_name, root), since, tmp_since), patch)
            _, theirs = source_states(source, patch)
        return merge_into(target, source, base, theirs)


def merge_into(target, source, base, theirs):
    """Merge, file by file, the change from `base` to `theirs` (the source line's) into the target's src/diffusers."""
    source_name = source.name
    results = []
    for rel in sorted(set(base) | set(theirs)):
        pristine = source.pristine / rel
        pristine = pristine.read_bytes() if pristine.is_file() else None
        old, new = base.get(rel, pristine), theirs.get(rel, pristine)
        if old == new:
            continue
        path = target.work / rel
        ours = path.read_bytes() if path.is_file() else None
        labels = (f"line {target.line.name}", f"line {source_name} before", f"line {source_name} after")
        merged, clean = merge(ours if ours is not None else b"", old, new, labels)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(merged)
        results.append((rel, clean))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m forktools.carry", description=__doc__.split("\n\n")[0])
    parser.add_argument("patch", help="the patch's file name in the source line's series")
    parser.add_argument("--from", dest="source", required=True, help="the source line")
    parser.add_argument("--since", help="carry only what changed in the patch since this git revision")
    parser.add_argument("--at", help="take the source line as committed at this git revision (across a bump)")
    args = parser.parse_args(argv)
    try:
        results = carry(args.patch, args.source, args.since, args.at)
    except PatchQueueError as err:
        print(f"carry: error: {err}", file=sys.stderr)
        return 1
    for rel, clean in results:
        print(f"{'merged   ' if clean else 'CONFLICT '} src/diffusers/{rel}")
    conflicts = [rel for rel, clean in results if not clean]
    print(f"{len(results)} file(s), {len(conflicts)} with conflicts to resolve" if results else "nothing to carry")
    return 1 if conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
