"""`make compare`: the dtype scenarios on every line x test environment, pristine upstream and the fork.

    python -m forktools.measure.compare [--out out/compare.md]

Columns: each line (lines/<line>/), under each of its test environments (line.toml `[environments]`, created by
`make env ENV=...`; a line without any runs under this Python), on the pristine upstream release (the sdist extract in
build/upstream/) and on the fork (pristine + the line's series, built in build/trees/<line>/, so src/diffusers is not
touched). Each column is one pytest process over the line's scenario files (line.toml `[compare] tests`), with its
tree first on PYTHONPATH. Rows are scenarios; a cell is "pass" or the first line of the failure. Writes the markdown
table and out/compare.json (used by the PR descriptions). An environment that has not been created yet is reported as a missing column, not run.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

from .. import outcomes
from ..envs import path as env_path
from ..lines import ROOT, Line, names
from ..queue import Queue


def columns():
    """[(line, environment name or None, python)] in line order."""
    found = []
    for line_name in names():
        line = Line(line_name)
        for env_name in line.environments or [None]:
            python = sys.executable if env_name is None else str(env_path(env_name) / "bin" / "python")
            found.append((line, env_name, python))
    return found


def trees(line):
    """(pristine `src` folder, fork `src` folder) of a line, the fork built afresh from its series."""
    queue = Queue(line)
    pristine = queue.ensure_pristine().parent
    fork = ROOT / "build" / "trees" / line.name / "src"
    if fork.exists():
        shutil.rmtree(fork)
    fork.mkdir(parents=True)
    queue.build_tree(fork)
    return str(pristine), str(fork)


def run_side(python, pythonpath, tests):
    """({test id: (passed, first line of the error)}, versions) for one column; skipped tests are left out."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "outcomes.json")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [pythonpath, os.environ.get("PYTHONPATH")])))
        files = [f for f in tests if os.path.isfile(os.path.join(ROOT, f))]
        cmd = [python, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", "-p", "forktools.outcomes"]
        subprocess.run(cmd, cwd=ROOT, env=dict(env, FORK_OUTCOMES=report), capture_output=True, text=True)
        results = {}
        for node, (outcome, message) in outcomes.read(report).items():
            if outcome in ("skipped", "xfailed"):
                continue
            # A scenario is `Class::test`, or `module::test` for a test outside a class.
            file, *rest = node.split("::")
            name = "::".join(rest if len(rest) > 1 else [os.path.basename(file)[: -len(".py")], *rest])
            ok = outcome in ("passed", "xpassed")
            results[name] = (ok, "" if ok else (message.strip().splitlines() or ["failed"])[0])
        probe = "import diffusers, transformers; print(diffusers.__version__, transformers.__version__)"
        versions = subprocess.run([python, "-c", probe], env=env, capture_output=True, text=True).stdout.split()
        return results, versions


def cell(ok, error, limit=90):
    if ok:
        return "pass"
    error = error.replace("|", "\\|").replace("`", "'")
    return "FAIL: " + (error if len(error) <= limit else error[: limit - 1] + "…")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "out", "compare.md"))
    args = parser.parse_args()
    results, headers, missing = {}, [], []
    for line, env_name, python in columns():
        if not os.path.isfile(python):
            missing.append(f"line {line.name} x {env_name} (run `make env ENV={env_name}`)")
            continue
        pristine, fork = trees(line)
        for side, tree in (("upstream", pristine), ("fork", fork)):
            outcome, versions = run_side(python, tree, line.config["compare"]["tests"])
            label = f"{line.name} / transformers {versions[1] if len(versions) > 1 else '?'} / {side}"
            headers.append(label)
            results[label] = {"diffusers": versions[0] if versions else "?", "results": outcome}
            passed = sum(ok for ok, _ in outcome.values())
            print(f"{label}: {passed}/{len(outcome)} scenarios pass", flush=True)
    scenarios = []
    for label in headers:
        scenarios += [name for name in results[label]["results"] if name not in scenarios]
    lines = [
        "Dtype scenarios (tests/contract/), each line under each of its transformers releases, pristine upstream "
        "vs the fork; CPU, tiny stand-in pipelines built by each environment's transformers. Empty: the scenario "
        "does not apply there (skipped).",
        "",
        "| scenario | " + " | ".join(headers) + " |",
        "| --- |" + " --- |" * len(headers),
    ]
    for name in scenarios:
        row = []
        for label in headers:
            outcome = results[label]["results"].get(name)
            row.append("" if outcome is None else cell(*outcome))
        lines.append(f"| `{name}` | " + " | ".join(row) + " |")
    lines.append("")
    for label in headers:
        outcome = results[label]["results"]
        lines.append(
            f"- {label} (diffusers {results[label]['diffusers']}): {sum(ok for ok, _ in outcome.values())}/"
            f"{len(outcome)} pass"
        )
    for column in missing:
        lines.append(f"- not run: {column}")
    table = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(table)
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(
            {label: {"diffusers": r["diffusers"], "results": r["results"]} for label, r in results.items()},
            f,
            indent=1,
        )
    print(table)
    forks_fail = [
        label
        for label in headers
        if label.endswith("/ fork") and not all(ok for ok, _ in results[label]["results"].values())
    ]
    if forks_fail:
        print(f"the fork fails scenarios in: {', '.join(forks_fail)}")
    return 1 if forks_fail or not headers else 0


if __name__ == "__main__":
    sys.exit(main())
