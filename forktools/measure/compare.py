"""Runs the dtype scenario matrix (tests/test_sd3_dtype.py) against pristine upstream and against the fork, each in
its own pytest process, and writes a markdown before/after table.

    python -m forktools.measure.compare [--out out/compare.md]

Upstream is the pristine sdist tree `make vendor` extracts into build/upstream/ (put first on PYTHONPATH, so it
shadows the editable fork); the fork is the installed, patched `src/diffusers`.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


from ..lines import ROOT, select
from ..queue import Queue


SCENARIOS = os.path.join("tests", "contract", "test_sd3_dtype.py")


def run_side(pythonpath=None):
    """{test id: (passed, first line of the error)} for one side."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.xml")
        env = dict(os.environ)
        if pythonpath:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", "pytest", SCENARIOS, "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        results = {}
        for case in ET.parse(report).getroot().iter("testcase"):
            name = case.get("name")
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is None:
                results[name] = (True, "")
            else:
                message = (problem.get("message") or problem.text or "").strip().splitlines()
                results[name] = (False, message[0] if message else "failed")
        return results


def version_of(pythonpath=None):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    cmd = [sys.executable, "-c", "import diffusers; print(diffusers.__version__)"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT).stdout.strip()


def cell(text, limit=110):
    text = text.replace("|", "\\|").replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "out", "compare.md"))
    args = parser.parse_args()
    pristine = str(Queue(select(materialized_first=True)).upstream_dir / "src")
    if not os.path.isdir(os.path.join(pristine, "diffusers")):
        sys.exit(f"no pristine upstream tree in {pristine}: run `make vendor` first")
    upstream, fork = run_side(pristine), run_side()
    import torch
    import transformers

    lines = [
        f"Dtype scenarios (`{SCENARIOS}`), diffusers {version_of(pristine)} (upstream) vs {version_of()} (fork), "
        f"transformers {transformers.__version__}, torch {torch.__version__}, CPU, tiny SD3.5-layout stand-ins.",
        "",
        "| scenario | upstream | fork |",
        "| --- | --- | --- |",
    ]
    for name in sorted(set(upstream) | set(fork), key=lambda n: list(fork).index(n) if n in fork else 0):
        up_ok, up_error = upstream.get(name, (False, "not run"))
        fork_ok, fork_error = fork.get(name, (False, "not run"))
        up = "pass" if up_ok else f"FAIL: {cell(up_error)}"
        fk = "pass" if fork_ok else f"FAIL: {cell(fork_error)}"
        lines.append(f"| `{name}` | {up} | {fk} |")
    n_up, n_fork = sum(ok for ok, _ in upstream.values()), sum(ok for ok, _ in fork.values())
    lines += ["", f"upstream: {n_up}/{len(upstream)} pass; fork: {n_fork}/{len(fork)} pass", ""]
    table = "\n".join(lines)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(table)
    print(table)
    print(f"written to {os.path.relpath(args.out, ROOT)}")
    return 0 if n_fork == len(fork) and fork else 1


if __name__ == "__main__":
    sys.exit(main())
