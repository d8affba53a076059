"""`make quality`: upstream's checks on every file the line's patch series touches, in the materialized tree.

Runs ruff `check` and `format --check` with upstream's ruff configuration (the pinned sdist's pyproject.toml),
`doc-builder style --max_len 119 --check_only` (upstream's docstring check; hf-doc-builder is in its `quality` extra) and
the `# Copied from` checker (forktools.upstream.copies) on those files and on the copies elsewhere of the functions
the series changes; then ruff on the fork's own code (setup.py, forktools/, tests/, examples/). Exits non-zero on any
finding.
"""

import os
import subprocess
import sys

from ..lines import select
from ..queue import Queue
from . import copies


def main():
    queue = Queue(select(materialized_first=True))
    queue.applied()  # src/diffusers holds this line
    touched = queue.touched(queue.series())
    root = str(queue.root)
    files = sorted({os.path.join("src", "diffusers", rel) for rels in touched.values() for rel in rels})
    files = [f for f in files if f.endswith(".py") and os.path.isfile(os.path.join(root, f))]
    config = os.path.join(queue.upstream_dir, "pyproject.toml")
    failed = False
    print(f"line {queue.line.name}: {len(files)} file(s) touched by the series, ruff with upstream's configuration")
    for args in (["check"], ["format", "--check"]):
        if files:
            cmd = [sys.executable, "-m", "ruff", *args, "--config", config, *files]
            failed |= subprocess.run(cmd, cwd=root).returncode != 0
    if files:
        print("doc-builder style, as upstream's `make quality` runs it")
        cmd = [sys.executable, "-m", "doc_builder.commands.doc_builder_cli", "style", *files, "--max_len", "119"]
        if subprocess.run([*cmd, "--check_only"], cwd=root).returncode != 0:
            print(f"docstrings to restyle: run `{' '.join(['doc-builder', *cmd[3:]])}` and `make patches`")
            failed = True
    ours = [
        name for name in ("setup.py", "forktools", "tests", "examples") if os.path.exists(os.path.join(root, name))
    ]
    print(f"the fork's own code ({', '.join(ours)}): ruff, line length 119")
    for args in (["check"], ["format", "--check"]):
        cmd = [sys.executable, "-m", "ruff", *args, "--line-length", "119", *ours]
        failed |= subprocess.run(cmd, cwd=root).returncode != 0
    pristine = os.path.join(queue.upstream_dir, "src")
    found = copies.run(os.path.join(root, "src"), [os.path.join(root, f) for f in files], pristine=pristine)
    if found:
        print("`# Copied from` blocks out of sync: fix the source, then `python -m forktools.upstream.copies --fix`")
    else:
        print("all `# Copied from` blocks in sync")
    return 1 if failed or found else 0


if __name__ == "__main__":
    sys.exit(main())
