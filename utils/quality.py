#!/usr/bin/env python3
"""`make quality`: upstream's checks on every file the patch series touches, in the materialized tree.

Runs ruff `check` and `format --check` with upstream's ruff configuration (the pinned sdist's pyproject.toml) and
our `# Copied from` checker (utils/check_copies.py) on those files and on the copies elsewhere of the functions the
series changes; then ruff on the fork's own code (setup.py, utils/, tests/, examples/). Exits non-zero on any finding.
"""

import os
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "utils"))

import check_copies  # noqa: E402
import patchq  # noqa: E402


def main():
    queue = patchq.Queue(ROOT)
    files = sorted({os.path.join("src", "diffusers", rel) for rel, _ in queue.owners().items()})
    files = [f for f in files if f.endswith(".py") and os.path.isfile(os.path.join(ROOT, f))]
    config = os.path.join(queue.upstream_dir, "pyproject.toml")
    if not files:
        print("the patch series touches no Python file: nothing to check")
        return 0
    print(f"checking {len(files)} file(s) touched by the series with upstream's ruff configuration")
    failed = False
    for args in (["check"], ["format", "--check"]):
        cmd = [sys.executable, "-m", "ruff", *args, "--config", config, *files]
        failed |= subprocess.run(cmd, cwd=ROOT).returncode != 0
    ours = [name for name in ("setup.py", "utils", "tests", "examples") if os.path.exists(os.path.join(ROOT, name))]
    print(f"checking the fork's own code ({', '.join(ours)}) with ruff, line length 119")
    for args in (["check"], ["format", "--check"]):
        cmd = [sys.executable, "-m", "ruff", *args, "--line-length", "119", *ours]
        failed |= subprocess.run(cmd, cwd=ROOT).returncode != 0
    pristine = os.path.join(queue.upstream_dir, "src")
    copies = check_copies.run(os.path.join(ROOT, "src"), [os.path.join(ROOT, f) for f in files], pristine=pristine)
    if copies:
        print("`# Copied from` blocks out of sync: fix the source, then `python utils/check_copies.py --fix`")
    else:
        print("all `# Copied from` blocks in sync")
    return 1 if failed or copies else 0


if __name__ == "__main__":
    sys.exit(main())
