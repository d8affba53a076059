"""`make quality`: upstream's checks on the files the line's series touches (ruff with the pinned sdist's
pyproject.toml, `doc-builder style --max_len 119`, `# Copied from` consistency, also of the copies elsewhere of the
code the series changes), then ruff on the fork's own code. Exits non-zero on any finding.
"""

import os
import subprocess
import sys

from ..lines import select
from ..queue import Queue, git
from . import copies


def main():
    queue = Queue(select(materialized_first=True))
    queue.applied()  # src/diffusers holds this line
    root, config = queue.root, queue.upstream_dir / "pyproject.toml"
    touched = git(queue.work, "diff", "--name-only", "upstream", "HEAD", "--", "*.py").out.split()
    files = [f"src/diffusers/{rel}" for rel in sorted(touched) if (queue.work / rel).is_file()]
    ours = [name for name in ("setup.py", "forktools", "tests", "examples") if (root / name).exists()]

    def run(*cmd):
        return subprocess.run([sys.executable, "-m", *cmd], cwd=root).returncode != 0

    def ruff(*args):
        return run("ruff", "check", *args) | run("ruff", "format", "--check", *args)

    print(f"line {queue.line.name}: {len(files)} file(s) touched by the series, ruff with upstream's configuration")
    failed = bool(files) and ruff("--config", config, *files)
    if files:
        print("doc-builder style, as upstream's `make quality` runs it")
        style = ["doc_builder.commands.doc_builder_cli", "style", *files, "--max_len", "119"]
        if run(*style, "--check_only"):
            print(f"docstrings to restyle: run `doc-builder {' '.join(style[1:])}` and `make patches`")
            failed = True
    print(f"the fork's own code ({', '.join(ours)}): ruff, line length 119")
    failed |= ruff("--line-length", "119", *ours)
    pristine = queue.upstream_dir / "src"
    if copies.run(root / "src", [os.path.join(root, f) for f in files], pristine=pristine):
        print("`# Copied from` blocks out of sync: fix the source, then `python -m forktools.upstream.copies --fix`")
        failed = True
    else:
        print("all `# Copied from` blocks in sync")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
