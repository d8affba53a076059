"""`make pr`: the line's upstream pull requests (`[[pr]]` of line.toml, CONTRIBUTING.md), each a `git am`-able mail.

    python -m forktools.upstream.pr [--line L] [--out pr] [--check] [--upstream PATH]

pr/<line>/NN-<name>.patch is the PR's patches applied alone to the pristine release, then its tests diff
(lines/<line>/prs/<name>.tests.patch); NN-<name>.md its description. --check: the source part applies alone to
pristine; with --upstream (a huggingface/diffusers repository, or $UPSTREAM), the mail `git am`s on pristine plus
upstream's tests at `[upstream_tests] revision`, and each test it adds fails on pristine and passes with the PR.
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

from ..lines import ROOT, select
from ..queue import PatchQueueError, Queue, git
from .suite import SuiteError, extract_tests, run_tests


MAIL_HEAD = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nFrom: {author}\n"
MAIL_HEAD += "Date: Thu, 1 Jan 2026 00:00:00 +0000\nSubject: [PATCH] {title}\n\n"
TEMPLATE = Path(__file__).with_name("pr-description.md")  # the PR description, filled in by `pr_body`


def pristine_repo(queue, folder, upstream=None):
    """A git repository of the pristine release laid out like upstream's, with upstream's tests/ when given."""
    queue.ensure_pristine()
    shutil.copytree(queue.upstream_dir, folder, ignore=shutil.ignore_patterns("*.egg-info", "PKG-INFO"))
    if upstream is not None:
        tests = extract_tests(upstream, queue.line.upstream_tests["revision"], queue.line.root) / "tests"
        shutil.copytree(tests, os.path.join(folder, "tests"), dirs_exist_ok=True)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", f"diffusers {queue.version}"]):
        git(folder, *args)


def source_diff(queue, pr, repo):
    """The PR's patches applied alone, in series order, to the pristine release `repo` (in a scratch index): a diff."""
    index = {"GIT_INDEX_FILE": os.path.join(repo, ".git", "index-pr")}
    git(repo, "read-tree", "HEAD", env=index)
    for name in pr["patches"]:
        proc = git(repo, "apply", "--cached", "--whitespace=nowarn", queue.patches / name, env=index, check=False)
        if proc.returncode:
            raise PatchQueueError(f"PR {pr['name']}: {name} does not apply alone to pristine upstream: {proc.err}")
    return git(repo, "diff", "--cached", "--full-index", "--no-color", env=index).out


def tests_diff(line, pr):
    path = line.folder / "prs" / f"{pr['name']}.tests.patch"
    return path.read_bytes().decode("utf-8") if path.is_file() else ""  # bytes: some test files have CRLF lines


def added_tests(diff):
    """
    [(test file, class, test name)] that a diff of upstream's tests adds: new `test_` methods, and the tests of a
    tester mixin the diff defines, once per test class it adds that mixin to.
    """
    mixins, current_class = {}, None
    for line in diff.splitlines():  # the tester mixins the diff defines, wherever they come in it
        current_class = (re.match(r"^[ +]class (\w+)", line) or [None, current_class])[1]
        if (test := re.match(r"^\+    def (test_\w+)", line)) and (current_class or "").endswith("TesterMixin"):
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
            current_class = (re.match(r"class (\w+)", top) or [None, current_class])[1]
            continue
        code = line[1:]
        if code[:1].strip():  # a top-level statement: a class header, an import, ...
            top = code
            current_class = (re.match(r"class (\w+)", code) or [None, current_class])[1]
        # A tester mixin added to the bases of a test class (its header line or a continuation line of it).
        if line.startswith("+") and top.startswith("class ") and current_class not in mixins:
            for name in re.findall(r"\b(\w+TesterMixin)\b", code if code is top else code.split("#")[0]):
                found += [(current_file, current_class, test) for test in mixins.get(name, [])]
        test = re.match(r"^\+    def (test_\w+)", line)
        if test and not (current_class or "").endswith("TesterMixin"):
            found.append((current_file, current_class, test.group(1)))
    return found


def mail(queue, pr, source, tests):
    """The PR as one commit's mail: its message, a diffstat, the source diff and the tests diff."""
    lines = [textwrap.fill(p, 72) + "\n" for name in pr["patches"] for p in queue.header(name)[1]]
    lines += [f"Related to {pr['related']}.\n"] if pr.get("related") else []
    lines += ["Behaviour changes:\n"]
    lines += [
        textwrap.fill(change, 72, initial_indent="* ", subsequent_indent="  ") + "\n" for change in pr["changes"]
    ]
    stat = git(ROOT, "apply", "--stat", "-", input=(source + tests).encode()).out
    return MAIL_HEAD.format(**pr) + "\n".join(lines) + "---\n" + stat + "\n" + source + tests


def before_after(pr):
    """The rows of out/compare.json that this PR's scenarios name, as a markdown table."""
    if not (path := ROOT / "out" / "compare.json").is_file():
        return "(run `make compare` to fill in this table)"
    compare = json.loads(path.read_text())
    names = [name for label in compare for name in compare[label]["results"]]
    rows = [n for n in dict.fromkeys(names) if n.split("::")[-1].startswith(tuple(pr.get("scenarios", [])))]
    out = ["| scenario | " + " | ".join(compare) + " |", "| --- |" + " --- |" * len(compare)]
    for name in rows:
        results = [compare[label]["results"].get(name) for label in compare]
        cells = ["" if r is None else "pass" if r[0] else "FAIL: " + r[1][:70].replace("|", "/") for r in results]
        out.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(out)


def below_tests(path):
    """A test path below tests/pipelines/, or below tests/ for the others (modular_pipelines/...): what a [[pr]]'s
    `families` are prefixes of."""
    return path.split("/", 1)[-1].removeprefix("pipelines/")


def pipelines_table(line, pr):
    """The rows of the `make pipelines` record whose test path starts with one of the PR's `families`, as markdown.

    Only the record (lines/<line>/pipelines.json) counts: out/ may hold a partial run that lacks other families' rows.
    """
    if not (path := line.folder / "pipelines.json").is_file():
        return "(run `make pipelines UPSTREAM=/path/to/huggingface/diffusers RECORD=1` to fill in this table)"
    record = json.loads(path.read_text())
    out = [
        "Upstream's own dummy pipelines (each fast test class's `get_dummy_components()`), offline on CPU, in five "
        "setups: U every component bf16; M text encoders fp32, the rest bf16; R text encoders bf16, the rest fp32; H "
        "text encoders fp16, the rest bf16; P every component bf16, the prompts passed in as fp32 embeddings "
        f"(diffusers {record['diffusers']['pristine']}, transformers {record['transformers']}). `ok` ran, `X` "
        "crashed, `n/a` the pipeline takes no prompt embeddings, `-` not run.",
        "",
        "| test class | pipeline | pristine U M R H P | with the series U M R H P |",
        "| --- | --- | --- | --- |",
    ]
    mark = {"ok": "ok", "crash": "X", "n/a": "n/a"}
    for key, entry in record["table"].items():
        if entry["text"] and below_tests(key).startswith(tuple(pr["families"])):
            cells = [" ".join(mark.get(entry[side].get(s), "-") for s in "UMRHP") for side in ("pristine", "fork")]
            out.append(f"| `{below_tests(key)}` | {entry['pipeline']} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


def suite_counts(line, pr=None):
    """The recorded upstream-suite counts (lines/<line>/upstream-suite.json) of the PR's `families`' files."""
    path = line.folder / "upstream-suite.json"
    suite, families = json.loads(path.read_text()) if path.is_file() else {"files": {}}, (pr or {}).get("families")
    files = {n: c for n, c in suite["files"].items() if below_tests(n).startswith(tuple(families or [""]))}
    if not files:
        return (
            "Not run yet for these test files: `make upstream-suite UPSTREAM=/path/to/huggingface/diffusers` runs "
            "upstream's own tests of the series' families on pristine and on the fork and records the counts."
        )
    out = ["| tests | pristine | fork |", "| --- | --- | --- |"]
    out += [f"| `{name}` | {counts['pristine']} | {counts['fork']} |" for name, counts in files.items()]
    out += [] if families else [f"| all | {suite['total']['pristine']} | {suite['total']['fork']} |"]
    regressions = [r for r in suite.get("regressions", []) if r.split("::")[0] in files]
    listed = ": " + ", ".join(f"`{r}`" for r in regressions) if regressions else "."
    out += [
        "",
        f"Revision {suite['revision']}; {len(regressions)} test(s) that pass on pristine fail on the fork{listed}",
    ]
    if fixed := [f for f in suite.get("fixed", []) if f.split("::")[0] in files]:
        out.append(
            f"{len(fixed)} test(s) fail on pristine and pass on the fork: {', '.join(f'`{f}`' for f in fixed)}."
        )
    return "\n".join(out)


def pr_body(queue, pr, number, tests, verified):
    line = queue.line
    intro = line.config.get("pr_intros", {}).get(pr["intro"], pr["intro"]).strip()
    intro = intro.replace("{number}", str(number)).replace("{version}", line.version)
    what = "\n\n".join(paragraph for name in pr["patches"] for paragraph in queue.header(name)[1])
    changes = "\n".join(f"- {change}" for change in pr["changes"])
    if pr.get("families"):
        table = pipelines_table(line, pr)
    else:
        table = f"{line.config['compare']['pr_text'].strip()}\n\n{before_after(pr)}"
    if added := added_tests(tests):
        listed = "\n".join(f"- `{file}::{cls}::{name}`" for file, cls, name in added)
        evidence = (
            verified
            or f"Each fails on pristine {queue.version} and passes with this PR alone (checked offline, on CPU)."
        )
        tests_section = f"Tests added to upstream's existing test classes:\n\n{listed}\n\n{evidence}"
    else:
        tests_section = "No tests yet."
    gpu = ROOT / "out" / "gpu-check.md"
    gpu = gpu.read_text(encoding="utf-8").strip() if gpu.is_file() else ""
    gpu = gpu if gpu and "device: cpu" not in gpu.lower() else "Not run on a GPU yet."
    fields = dict(intro=intro, what=what, changes=changes, table=table, tests_section=tests_section, gpu=gpu)
    return TEMPLATE.read_text().format(
        title=pr["title"], suite=suite_counts(line, pr), tested="x" if added else " ", **fields
    )


def check(queue, repo, patch, tests, upstream):
    """The PR applies to pristine `repo`; with upstream's tests in it, the tests it adds fail before and pass after."""
    if upstream is None:
        source = patch.read_text().split("\ndiff --git a/tests/", 1)[0].split("\n---\n", 1)[1] + "\n"
        if (proc := git(repo, "apply", "--check", "-", input=source.encode(), check=False)).returncode:
            raise PatchQueueError(f"{patch.name}: the source part does not apply to pristine upstream: {proc.err}")
        print(f"{patch.name}: its source part applies alone to pristine diffusers {queue.version}")
        return ""
    base = git(repo, "rev-parse", "HEAD").out.strip()
    try:
        if (proc := git(repo, "am", "--keep-cr", patch, check=False)).returncode:
            raise PatchQueueError(f"{patch.name} does not `git am` on pristine upstream + its tests: {proc.err}")
        if not (ids := [f"{file}::{cls}::{name}" for file, cls, name in added_tests(tests)]):
            return ""
        with_pr = run_tests(repo, ids, os.path.join(repo, "src"))
        git(repo, "checkout", "-q", "HEAD~1", "--", "src")
        without = run_tests(repo, ids, os.path.join(repo, "src"))
    finally:
        git(repo, "am", "--abort", check=False)
        git(repo, "reset", "-q", "--hard", base)
    if bad := [i for i in ids if with_pr.get(i) != "passed" or without.get(i) != "failed"]:
        raise PatchQueueError(
            f"{patch.name}: each added test must fail on pristine and pass with the PR: "
            + "; ".join(f"{i}: pristine {without.get(i)}, PR {with_pr.get(i)}" for i in bad)
        )
    print(f"{patch.name}: git am on pristine + upstream tests; {len(ids)} added test(s) fail before, pass after")
    return f"Checked offline, on CPU: all {len(ids)} fail on pristine and pass with this PR alone."


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m forktools.upstream.pr", description=__doc__.split("\n\n")[0])
    parser.add_argument("--line", default=None, help="the line (default: $LINE, else the one src/diffusers holds)")
    parser.add_argument("--out", default=str(ROOT / "pr"))
    parser.add_argument("--check", action="store_true", help="check that each PR applies (and its tests, see above)")
    parser.add_argument("--upstream", default=os.environ.get("UPSTREAM") or None, help="a huggingface/diffusers repo")
    args = parser.parse_args(argv)
    queue = Queue(line := select(args.line, materialized_first=True))
    # A [[pr]] takes what it does not set from the line's [pr_defaults] (author, related, intro).
    prs = [{**line.config.get("pr_defaults", {}), **pr} for pr in line.pull_requests]
    out = Path(args.out) / line.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if not prs:
        print(f"line {line.name} sends no pull requests (lines/{line.name}/line.toml has no [[pr]])")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        try:
            pristine_repo(queue, repo := os.path.join(tmp, "diffusers"), args.upstream if args.check else None)
            for number, pr in enumerate(prs, start=1):
                tests, patch = tests_diff(line, pr), out / f"{number:02d}-{pr['name']}.patch"
                patch.write_text(mail(queue, pr, source_diff(queue, pr, repo), tests), encoding="utf-8")
                verified = check(queue, repo, patch, tests, args.upstream) if args.check else ""
                patch.with_suffix(".md").write_text(pr_body(queue, pr, number, tests, verified), encoding="utf-8")
                print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}/{patch.stem}.patch and .md")
        except (PatchQueueError, SuiteError) as error:
            print(f"pr: error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
