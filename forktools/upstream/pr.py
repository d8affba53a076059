"""`make pr`: the line's upstream pull requests, each one `git am`-able patch and its description.

    python -m forktools.upstream.pr [--line L] [--out pr] [--check] [--upstream PATH]

Each `[[pr]]` of lines/<line>/line.toml is made of patches of the line's series, applied alone (without the rest of
the series) to the pristine release, and of a diff of upstream's tests, lines/<line>/prs/<name>.tests.patch, made
against upstream's git revision in `[upstream_tests]`. It is written as pr/<line>/<NN>-<name>.patch, a mail that
`git am` takes in a clone of huggingface/diffusers (the source diff, then the tests diff), and pr/<line>/<NN>-<name>.md,
the PR description (behaviour changes, the before/after table of out/compare.json, upstream's suite counts of
out/upstream-suite/<line>.json, else the recorded lines/<line>/upstream-suite.json, the GPU report out/gpu-check.md
when there is one).

--check: the source part of each PR applies alone to the pristine sdist. With --upstream (a huggingface/diffusers git
repository holding that revision; $UPSTREAM works too): the whole patch `git am`s on the sdist plus upstream's tests
at the revision, and each test the PR adds fails without the PR's source and passes with it (run offline, see
forktools.upstream.suite).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from ..lines import ROOT, select
from ..queue import GIT_ENV, Queue
from .suite import SuiteError, extract_tests


AUTHOR = ("forktools", "forktools@localhost")  # of the throw-away commits below; the mails' is the line's
DATE = "2026-01-01T00:00:00+00:00"


def git(*args, cwd, check=True, input=None):
    env = dict(
        GIT_ENV,
        GIT_AUTHOR_NAME=AUTHOR[0],
        GIT_AUTHOR_EMAIL=AUTHOR[1],
        GIT_COMMITTER_NAME=AUTHOR[0],
        GIT_COMMITTER_EMAIL=AUTHOR[1],
        GIT_AUTHOR_DATE=DATE,
        GIT_COMMITTER_DATE=DATE,
    )
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip()}")
    return proc


def pristine_repo(queue, folder, upstream=None):
    """A git repository of the pristine release laid out like upstream's, with upstream's tests/ when given."""
    queue.ensure_pristine()
    shutil.copytree(queue.upstream_dir, folder, ignore=shutil.ignore_patterns("*.egg-info", "PKG-INFO"))
    if upstream is not None:
        try:
            tests_root = extract_tests(upstream, queue.line.upstream_tests["revision"], queue.line.root)
        except SuiteError as error:
            raise SystemExit(str(error)) from None
        shutil.copytree(tests_root / "tests", os.path.join(folder, "tests"), dirs_exist_ok=True)
    git("init", "-q", "-b", "main", cwd=folder)
    git("add", "-A", cwd=folder)
    git("commit", "-q", "-m", f"diffusers {queue.version}", cwd=folder)


def source_diff(queue, pr):
    """The PR's patches applied alone, in series order, to the pristine release: one diff of the source tree."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "diffusers")
        pristine_repo(queue, repo)
        for name in pr["patches"]:
            proc = git("apply", "--whitespace=nowarn", str(queue.patches / name), cwd=repo, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"PR {pr['name']}: {name} does not apply alone to pristine upstream: {proc.stderr}")
        git("add", "-A", cwd=repo)
        return git("diff", "--cached", "--full-index", "--no-color", cwd=repo).stdout


def tests_diff(line, pr):
    path = line.folder / "prs" / f"{pr['name']}.tests.patch"
    if not path.is_file():
        return ""
    with open(path, encoding="utf-8", newline="") as f:  # keep CRLF lines: some of upstream's test files have them
        return f.read()


def added_tests(diff):
    """
    [(test file, class, test name)] that a diff of upstream's tests adds: new `test_` methods, and the tests of a
    tester mixin the diff defines, once per test class it adds that mixin to.
    """
    mixins, current_class = {}, None
    for line in diff.splitlines():  # the tester mixins the diff defines, wherever they come in it
        header = re.match(r"^[ +]class (\w+)", line)
        current_class = header.group(1) if header else current_class
        test = re.match(r"^\+    def (test_\w+)", line)
        if test and current_class and current_class.endswith("TesterMixin"):
            mixins.setdefault(current_class, []).append(test.group(1))
    found, current_file, current_class, top = [], None, None, ""
    for line in diff.splitlines():
        if line.startswith("+++ b/"):
            current_file, current_class, top = line[len("+++ b/") :], None, ""
            continue
        if line.startswith(("---", "diff --git", "index ")):
            continue
        if line.startswith("@@"):  # git names the enclosing top-level statement after the second @@
            top = line.split("@@", 2)[2].strip()
            context = re.match(r"class (\w+)", top)
            current_class = context.group(1) if context else current_class
            continue
        code = line[1:]
        if code[:1].strip():  # a top-level statement: a class header, an import, ...
            top = code
            header = re.match(r"class (\w+)", code)
            current_class = header.group(1) if header else current_class
        # A tester mixin added to the bases of a test class (its header line or a continuation line of it).
        if line.startswith("+") and top.startswith("class ") and current_class not in mixins:
            bases = code if code is top else code.split("#")[0]
            for name in re.findall(r"\b(\w+TesterMixin)\b", bases):
                found += [(current_file, current_class, test) for test in mixins.get(name, [])]
        test = re.match(r"^\+    def (test_\w+)", line)
        if test and not (current_class and current_class.endswith("TesterMixin")):
            found.append((current_file, current_class, test.group(1)))
    return found


def paragraphs(description):
    """The paragraphs of a DEP-3 `Description:` field, the first line apart."""
    _, _, body = description.partition("\n")
    return [" ".join(p.split()) for p in body.split("\n.\n") if p.strip() and p.strip() != "."]


def commit_message(queue, pr):
    lines = [pr["title"], ""]
    for name in pr["patches"]:
        description = queue.header_fields(queue.read_patch(name)[0]).get("Description", "")
        for paragraph in paragraphs(description):
            lines += [textwrap.fill(paragraph, 72), ""]
    if pr.get("related"):
        lines += [f"Related to {pr['related']}.", ""]
    lines += ["Behaviour changes:", ""]
    for change in pr.get("changes", []):
        lines += [textwrap.fill(change, 72, initial_indent="* ", subsequent_indent="  "), ""]
    return "\n".join(lines).rstrip() + "\n"


def mail(queue, pr, source, tests):
    """A patch mail that `git am` takes: the commit message, a diffstat, the source diff and the tests diff."""
    diff = source + tests
    stat = subprocess.run(["git", "apply", "--stat", "-"], input=diff, capture_output=True, text=True, env=GIT_ENV)
    subject = pr["title"]
    return (
        "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
        f"From: {pr['author']}\n"
        "Date: Thu, 1 Jan 2026 00:00:00 +0000\n"
        f"Subject: [PATCH] {subject}\n\n"
        + commit_message(queue, pr).split("\n", 2)[2]
        + "---\n"
        + stat.stdout
        + "\n"
        + diff
    )


def read(path, default=""):
    path = ROOT / path
    return path.read_text(encoding="utf-8").strip() if path.is_file() else default


def before_after(pr):
    """The rows of out/compare.json that this PR's scenarios name, as a markdown table."""
    path = ROOT / "out" / "compare.json"
    if not path.is_file():
        return "(run `make compare` to fill in this table)"
    compare = json.loads(path.read_text())
    labels = list(compare)
    rows = []
    for label in labels:
        for name in compare[label]["results"]:
            if any(name.split("::")[-1].startswith(prefix) for prefix in pr.get("scenarios", [])) and name not in rows:
                rows.append(name)
    out = ["| scenario | " + " | ".join(labels) + " |", "| --- |" + " --- |" * len(labels)]
    for name in rows:
        cells = []
        for label in labels:
            result = compare[label]["results"].get(name)
            cells.append(
                "" if result is None else "pass" if result[0] else "FAIL: " + result[1][:70].replace("|", "/")
            )
        out.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(out)


def pipelines_table(line, pr):
    """
    The rows of the `make pipelines` record (out/pipelines/<line>.json, else lines/<line>/pipelines.json) whose test
    path (below tests/pipelines/ or tests/modular_pipelines/) starts with one of the PR's `families`, as markdown.
    """
    path = ROOT / "out" / "pipelines" / f"{line.name}.json"
    if not path.is_file():
        path = line.folder / "pipelines.json"
    if not path.is_file():
        return "(run `make pipelines UPSTREAM=/path/to/huggingface/diffusers RECORD=1` to fill in this table)"
    record = json.loads(path.read_text())
    out = [
        "Upstream's own dummy pipelines (each fast test class's `get_dummy_components()`), offline on CPU, in four "
        "setups: U every component bf16; M text encoders fp32, the rest bf16; R text encoders bf16, the rest fp32; H "
        f"text encoders fp16, the rest bf16 (diffusers {record['diffusers']['pristine']}, transformers "
        f"{record['transformers']}). `ok` ran, `X` crashed.",
        "",
        "| test class | pipeline | pristine U M R H | with the series U M R H |",
        "| --- | --- | --- | --- |",
    ]
    mark = {"ok": "ok", "crash": "X"}
    for key, entry in record["table"].items():
        rel = key.split("/", 2)[2]
        if not entry["text"] or not any(rel.startswith(prefix) for prefix in pr.get("families", [])):
            continue
        cells = [" ".join(mark.get(entry[side].get(s), "-") for s in "UMRH") for side in ("pristine", "fork")]
        out.append(f"| `{key.split('/', 2)[2]}` | {entry['pipeline']} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def intro(line, pr, number):
    """The PR's opening paragraph: `intro` names a text of the line's [pr_intros] (or is the text itself)."""
    text = line.config.get("pr_intros", {}).get(pr["intro"], pr["intro"])
    return text.strip().replace("{number}", str(number)).replace("{version}", line.version)


def suite_counts(line, pr=None):
    """
    The counts of out/upstream-suite/<line>.json, else of the recorded lines/<line>/upstream-suite.json; for a PR with
    `families`, only the test files of those families.
    """
    path = ROOT / "out" / "upstream-suite" / f"{line.name}.json"
    if not path.is_file():
        path = line.folder / "upstream-suite.json"
    suite = json.loads(path.read_text()) if path.is_file() else None
    families = (pr or {}).get("families")
    files = {}
    if suite is not None:
        files = {
            name: counts
            for name, counts in suite["files"].items()
            if not families or any(name.split("/", 2)[-1].startswith(prefix) for prefix in families)
        }
    if not files:
        return (
            "Not run yet for these test files: `make upstream-suite UPSTREAM=/path/to/huggingface/diffusers` runs "
            "upstream's own tests of the series' families on pristine and on the fork and records the counts."
        )
    out = ["| tests | pristine | fork |", "| --- | --- | --- |"]
    for name, counts in files.items():
        out.append(f"| `{name}` | {counts['pristine']} | {counts['fork']} |")
    if not families:
        out.append(f"| all | {suite['total']['pristine']} | {suite['total']['fork']} |")
    regressions = [r for r in suite.get("regressions", []) if r.split("::")[0] in files]
    out.append("")
    out.append(
        f"Revision {suite['revision']}; {len(regressions)} test(s) that pass on pristine fail on the fork"
        + (": " + ", ".join(f"`{r}`" for r in regressions) if regressions else ".")
    )
    fixed = [f for f in suite.get("fixed", []) if f.split("::")[0] in files]
    if fixed:
        out.append(
            f"{len(fixed)} test(s) fail on pristine and pass on the fork: " + ", ".join(f"`{f}`" for f in fixed) + "."
        )
    return "\n".join(out)


def scenarios_section(line, pr):
    return line.config["compare"]["pr_text"].strip() + "\n\n" + before_after(pr)


def pr_body(queue, pr, number, tests, verified):
    line = queue.line
    changes = "\n".join(f"- {change}" for change in pr.get("changes", []))
    what = "\n\n".join(
        paragraph
        for name in pr["patches"]
        for paragraph in paragraphs(queue.header_fields(queue.read_patch(name)[0]).get("Description", ""))
    )
    added = added_tests(tests)
    if added:
        listed = "\n".join(f"- `{file}::{cls}::{name}`" for file, cls, name in added)
        evidence = verified or (
            f"Each fails on pristine {queue.version} and passes with this PR alone (checked offline, on CPU)."
        )
        tests_section = f"Tests added to upstream's existing test classes:\n\n{listed}\n\n{evidence}"
    else:
        tests_section = "No tests yet."
    gpu = read("out/gpu-check.md")
    gpu = gpu if gpu and "device: cpu" not in gpu.lower() else "Not run on a GPU yet."
    return f"""# {pr["title"]}

{intro(line, pr, number)}

## What does this PR do?

{what}

## Behaviour changes

{changes}

## Before / after

{pipelines_table(line, pr) if pr.get("families") else scenarios_section(line, pr)}

## How was it tested?

{tests_section}

Upstream's own tests of these pipelines (offline, against local stand-ins of the hub repos they read), pristine vs
our fork with the whole series:

{suite_counts(line, pr)}

## On a GPU

{gpu}

## Before submitting
- [{"x" if added else " "}] Tests added to the existing test classes, no hub access needed.
- [x] `make style && make quality` equivalents (ruff with upstream's config, `# Copied from` consistency).
"""


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m forktools.upstream.pr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--line", default=None, help="the line (default: $LINE, else the one src/diffusers holds)")
    parser.add_argument("--out", default=str(ROOT / "pr"))
    parser.add_argument("--check", action="store_true", help="check that each PR applies (and its tests, see above)")
    parser.add_argument("--upstream", default=os.environ.get("UPSTREAM") or None, help="a huggingface/diffusers repo")
    args = parser.parse_args(argv)
    queue = Queue(select(args.line, materialized_first=True))
    line = queue.line
    # A [[pr]] takes what it does not set from the line's [pr_defaults] (author, related, intro).
    prs = [{**line.config.get("pr_defaults", {}), **pr} for pr in line.pull_requests]
    out = Path(args.out) / line.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    if not prs:
        print(f"line {line.name} sends no pull requests (lines/{line.name}/line.toml has no [[pr]])")
        return 0
    for number, pr in enumerate(prs, start=1):
        source, tests = source_diff(queue, pr), tests_diff(line, pr)
        stem = f"{number:02d}-{pr['name']}"
        (out / f"{stem}.patch").write_text(mail(queue, pr, source, tests), encoding="utf-8")
        verified = ""
        if args.check:
            verified = check(queue, pr, out / f"{stem}.patch", tests, args.upstream)
        (out / f"{stem}.md").write_text(pr_body(queue, pr, number, tests, verified), encoding="utf-8")
        print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}/{stem}.patch and .md")
    return 0


def check(queue, pr, patch, tests, upstream):
    """Apply the PR to pristine upstream; with an upstream repository, run the tests it adds. Returns the evidence."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "diffusers")
        if upstream is None:
            pristine_repo(queue, repo)
            source = patch.read_text().split("\ndiff --git a/tests/", 1)[0] + "\n"
            proc = git("apply", "--check", "-", cwd=repo, check=False, input=source.split("\n---\n", 1)[1])
            if proc.returncode != 0:
                raise SystemExit(f"{patch.name}: the source part does not apply to pristine upstream: {proc.stderr}")
            print(f"{patch.name}: its source part applies alone to pristine diffusers {queue.version}")
            return ""
        pristine_repo(queue, repo, upstream=upstream)
        proc = git("am", "--keep-cr", str(patch), cwd=repo, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{patch.name} does not `git am` on pristine upstream + its tests: {proc.stderr}")
        added = added_tests(tests)
        if not added:
            return ""
        from .suite import run_tests

        ids = [f"{file}::{cls}::{name}" for file, cls, name in added]
        with_pr = run_tests(repo, ids, os.path.join(repo, "src"))
        git("checkout", "-q", "HEAD~1", "--", "src", cwd=repo)
        without = run_tests(repo, ids, os.path.join(repo, "src"))
        bad = [i for i in ids if with_pr.get(i) != "passed" or without.get(i) != "failed"]
        if bad:
            raise SystemExit(
                f"{patch.name}: each added test must fail on pristine and pass with the PR: "
                + "; ".join(f"{i}: pristine {without.get(i)}, PR {with_pr.get(i)}" for i in bad)
            )
        print(f"{patch.name}: git am on pristine + upstream tests; {len(ids)} added test(s) fail before, pass after")
        return f"Checked offline, on CPU: all {len(ids)} fail on pristine and pass with this PR alone."


if __name__ == "__main__":
    sys.exit(main())
