"""`make upstream-suite`: upstream's own tests of the families the series fixes, offline, pristine vs the fork.

    python -m forktools.upstream.suite [--line L] [--upstream PATH] [--out out/upstream-suite] [--record]
                                       [--files FILE ... | --families NAME ...]

PATH is a huggingface/diffusers git repository (bare or not; $UPSTREAM works too) that holds the line's
`[upstream_tests] revision`; without one the suite is skipped. Its tests/ at that revision are extracted into
build/upstream-tests/<revision>/, and each target file (FAMILIES' files, or --families', or --files) runs in its own pytest process twice: on
the pristine release (the sdist extract) and on the fork (the line's series applied, in build/trees/<line>-suite/),
each tree put first on PYTHONPATH. The python that runs this module runs the tests, so for line 0.39 use an
environment of that line: `make upstream-suite LINE=0.39 ENV=tf-4.49.0 UPSTREAM=...`.

Nothing is downloaded: the hub repositories the tests read are offline stand-ins (forktools.upstream.hub_standins),
built once per transformers version into build/hub-standins/<version>/; each side gets its own copy of that cache
(the tests write into it) and runs with HF_HUB_OFFLINE=1, one torch thread. The stand-ins have random weights, so the
tests that compare with hard-coded expected slices fail on both sides: what counts is the difference.

Writes out/upstream-suite/<line>.json and .md (per-file counts, regressions, fixed tests, the tests failing on both
sides by cause) and the raw outcome records and logs under out/upstream-suite/<line>/. --record also copies the json
and md to lines/<line>/upstream-suite.{json,md}, the evidence `make pr` quotes: a run of some families or files
replaces their rows there and keeps the other files' rows (each names the series it ran with) when the revision,
trees and transformers are the same (else the record starts again from this run). Exit status: 0, 1 when a test that passes on pristine fails on the
fork, 2 when the suite cannot run (a missing package, a missing revision).
"""

import argparse
import collections
import concurrent.futures
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from importlib import metadata
from pathlib import Path

from .. import outcomes
from ..envs import tree_version
from ..lines import ROOT, select
from ..queue import Queue


# The test files per family: data, in suite.toml beside this file (the hub repositories: hub_standins.toml).
with open(Path(__file__).with_name("suite.toml"), "rb") as _f:
    DATA = tomllib.load(_f)
FAMILIES = {name: tuple(files) for name, files in DATA["families"].items()}
FILES = tuple(file for files in FAMILIES.values() for file in files)
SIDES = ("pristine", "fork")
# Import name -> pip requirement of what the tests need beyond the fork's own requirements (our `test` extra).
REQUIRED = {
    "pytest": "pytest",
    "parameterized": "parameterized",
    "requests_mock": "requests-mock==1.10.0",
    "ftfy": "ftfy",  # the Wan-family pipelines clean prompts with it (NameError without it)
    "sentencepiece": "sentencepiece",  # the ChatGLM3 (Kolors) tokenizer and its stand-in
    "torchsde": "torchsde",  # Stable Audio's CosineDPMSolverMultistepScheduler (BrownianTree noise)
}
OUTCOMES = outcomes.OUTCOMES
PASSING, FAILING = ("passed", "xpassed"), ("failed", "error", "xfailed")
TEST_TIMEOUT = 300  # seconds per test, with pytest-timeout (when installed)
FILE_TIMEOUT = 1800  # seconds per test file
# Why a test fails on both sides, tried in order on "<test id>\n<message>" (the first match wins).
OFFLINE = "hub repo not available offline (no stand-in, or the test downloads into a fresh cache_dir)"
CATEGORIES = (
    ("community pipeline from GitHub/PyPI (network)", r"::test_load_custom_github\n|community-pipelines-mirror"),
    (OFFLINE, r"::test_custom_components_from_local_dir\n"),  # snapshot_download(..., cache_dir=tmpdirname)
    (
        "import error: this diffusers imports a class the installed transformers lacks",
        r"cannot import name '\w+' from 'transformers'",
    ),
    (
        "remote code from a hub repo: diffusers calls model_info() for it, which fails offline",
        r"dynamic_modules_utils|Cannot reach https://huggingface.co/api/models/.*(custom|dummy-pipeline|dot.in.name)",
    ),
    (
        "version drift: the tests' revision vs the released source",
        r"DDUF files is no longer supported|::test_modular_index_consistency\n",
    ),
    (
        OFFLINE,
        r"LocalEntryNotFound|OfflineModeIsEnabled|offline mode|not (fully )?cached locally|outgoing traffic has been "
        r"disabled|cannot find the requested files|does not appear to have a file named|We couldn't connect",
    ),
    (
        "numeric: hard-coded expected slice (the stand-ins' random weights differ from the real repos)",
        r"[Ee]xpected.?slice|Expected: \[|does not match expected|not less than or equal to 0\.001",
    ),
    ("numeric: tolerance between two runs", r"not less than|allclose|max_diff"),
)


class SuiteError(Exception):
    """The suite cannot run (exit status 2)."""


# ---------------------------------------------------------------------------------------------------- preparation
def missing_packages():
    """The pip requirements of REQUIRED that the running python cannot import."""
    return [pip for name, pip in REQUIRED.items() if importlib.util.find_spec(name) is None]


def extract_tests(upstream, revision, root=ROOT):
    """upstream's tests/ at `revision`, extracted once into build/upstream-tests/<revision>/ (its root folder)."""
    dest = root / "build" / "upstream-tests" / revision
    if (dest / "tests").is_dir():
        return dest
    archive = subprocess.run(
        ["git", "-C", str(upstream), "archive", "--format=tar", revision, "tests"],
        capture_output=True,
        env=dict(os.environ, LC_ALL="C"),
    )
    if archive.returncode != 0:
        error = archive.stderr.decode(errors="replace").strip()
        raise SuiteError(f"{upstream} does not hold revision {revision} of huggingface/diffusers: {error}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=dest.parent, prefix=".extract-")
    try:
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def ensure_standins(builder_src, root=ROOT):
    """
    The stand-in hub cache for the running python's transformers: build/hub-standins/<version>/hub, built (once, and
    again when hub_standins.py or hub_standins.toml change) by this python with `builder_src` (a folder holding
    diffusers) first on PYTHONPATH.
    """
    version = metadata.version("transformers")
    folder = root / "build" / "hub-standins" / version
    builder = Path(__file__).with_name("hub_standins.py")
    stamp = hashlib.sha256(builder.read_bytes() + builder.with_suffix(".toml").read_bytes()).hexdigest()
    if (folder / "builder.sha256").is_file() and (folder / "builder.sha256").read_text() == stamp:
        return folder / "hub"
    folder.parent.mkdir(parents=True, exist_ok=True)
    log = folder.parent / f"{version}.log"
    print(f"building the hub stand-ins for transformers {version} (log: {_rel(log)})", flush=True)
    tmp = tempfile.mkdtemp(dir=folder.parent, prefix=".build-")
    try:
        env = dict(_clean_env(), PYTHONPATH=str(builder_src), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
        with open(log, "w") as out:
            cmd = [sys.executable, "-m", "forktools.upstream.hub_standins", tmp]
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-5:])
            raise SuiteError(f"building the hub stand-ins failed (see {_rel(log)}):\n{tail}")
        Path(tmp, "builder.sha256").write_text(stamp)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder / "hub"


def private_home(hub, home):
    """A fresh HF_HOME at `home` holding a copy of the stand-in cache `hub` (the tests write into their cache)."""
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(hub, Path(home) / "hub", symlinks=True)
    return Path(home)


def _clean_env():
    """os.environ without the settings that would point the tests at another cache or turn on slow tests."""
    drop = ("HF_", "HUGGINGFACE_", "TRANSFORMERS_CACHE", "DIFFUSERS_CACHE", "RUN_SLOW", "RUN_NIGHTLY", "PYTHONPATH")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def offline_env(home, *paths, **extra):
    """The environment of a run offline on the hub cache of the HF_HOME `home`, with `paths` on PYTHONPATH; `extra`
    adds to it or overrides it."""
    env = dict(
        _clean_env(),
        PYTHONPATH=os.pathsep.join(map(str, paths)),
        HF_HOME=str(home),
        HF_HUB_CACHE=str(Path(home) / "hub"),
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        DIFFUSERS_NO_ADVISORY_WARNINGS="1",
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
    )
    return env | extra


def prepare(line, upstream, fork=None):
    """
    (revision, upstream's tests root, {side: the `src` folder of its tree}, the stand-in hub cache) of a run of
    upstream's tests on both sides; the fork is the line's series built afresh into build/trees/<line>-suite/ unless
    `fork` names a tree.
    """
    if not (revision := line.upstream_tests.get("revision")):
        raise SuiteError(f"lines/{line.name}/line.toml has no [upstream_tests] revision")
    tests_root = extract_tests(upstream, revision)
    queue = Queue(line)
    trees = {"pristine": queue.ensure_pristine().parent}
    if fork is None:
        shutil.rmtree(fork := ROOT / "build" / "trees" / f"{line.name}-suite", ignore_errors=True)
        fork = queue.build_tree(fork / "src").parent
    if not (Path(fork) / "diffusers" / "__init__.py").is_file():
        raise SuiteError(f"{fork} holds no diffusers tree: run `make vendor LINE={line.name}`")
    trees["fork"] = Path(fork).resolve()
    return revision, tests_root, trees, ensure_standins(trees["pristine"])


def on_both_sides(run, *args):
    """{side: run(side, *args)}, the two sides at once (one core each)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(SIDES)) as pool:
        futures = {side: pool.submit(run, side, *args) for side in SIDES}
        return {side: future.result() for side, future in futures.items()}


def upstream_arguments(parser, out):
    """The arguments `make upstream-suite` and `make pipelines` share."""
    parser.add_argument("--line", default=None, help="the line (default: $LINE, else the default line)")
    parser.add_argument("--upstream", default=os.environ.get("UPSTREAM") or None, help="a huggingface/diffusers repo")
    parser.add_argument("--out", default=str(ROOT / "out" / out))
    parser.add_argument("--record", action="store_true", help="also record the json and md in lines/<line>/")


def skipped(line, target):
    """Say that `target` (a make target) does not run without a huggingface/diffusers repository."""
    print(
        f"{target} skipped: no huggingface/diffusers repository; run `make {target} LINE={line.name} "
        f"UPSTREAM=/path/to/diffusers` (a clone holding revision {line.upstream_tests.get('revision', '?')})"
    )
    return 0


def _rel(path):
    path = Path(path)
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


# ---------------------------------------------------------------------------------------------------- running
def run_pytest(cwd, src, home, args, report, log, file_timeout=FILE_TIMEOUT, test_timeout=TEST_TIMEOUT):
    """
    Run pytest on `args` in `cwd` with `src` first on PYTHONPATH, offline with the hub cache of `home`, recording the
    outcomes to `report` (forktools.outcomes) and the output to `log`. Returns the exit status, or None when it ran
    past `file_timeout`.
    """
    env = offline_env(home, src, ROOT, FORK_OUTCOMES=str(report))  # ROOT: the outcomes plugin
    cwd = Path(cwd).resolve()  # pytest names tests relative to the real path of its rootdir
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "forktools.outcomes", "-q", "-rfExX"]
    cmd += ["--rootdir", str(cwd)]
    if importlib.util.find_spec("pytest_timeout") is not None:
        cmd += ["--timeout", str(test_timeout)]
    cmd += args
    Path(report).unlink(missing_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            return proc.wait(timeout=file_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            out.write(f"\n[forktools] killed after {file_timeout} s\n")
            return None


def counts(results):
    """'24 passed, 1 failed, 12 skipped' (errors, xfailed and xpassed when there are some)."""
    found = collections.Counter(outcome for outcome, _ in results.values())
    parts = []
    for outcome in OUTCOMES:
        if found[outcome] or outcome in ("passed", "failed", "skipped"):
            word = "errors" if outcome == "error" and found[outcome] != 1 else outcome
            parts.append(f"{found[outcome]} {word}")
    return ", ".join(parts)


def first_line(message, width=200):
    """The first non-blank line of `message`, with this checkout's path left out."""
    for line in message.splitlines():
        if line.strip():
            return line.strip().replace(f"{ROOT}/", "")[:width]
    return ""


def category(node, message):
    for name, pattern in CATEGORIES:
        if re.search(pattern, f"{node}\n{message}"):
            return name
    return "other"


def compare(pristine, fork, crashed=()):
    """
    (regressions, fixed, other differences) between two {node id: (outcome, message)}: regressions pass on pristine
    (passed, xpassed) and fail on the fork (failed, error, xfailed, or missing because its file did not run there,
    `crashed`); fixed tests the other way round; other differences are {node: (pristine outcome, fork outcome)}.
    """
    regressions, fixed, other = [], [], {}
    for node in sorted(set(pristine) | set(fork)):
        before = pristine.get(node, ("absent", ""))[0]
        after = fork.get(node, ("error" if node.split("::")[0] in crashed else "absent", ""))[0]
        if before in PASSING and after in FAILING:
            regressions.append(node)
        elif before in FAILING and after in PASSING:
            fixed.append(node)
        elif before != after:
            other[node] = (before, after)
    return regressions, fixed, other


def run_side(side, tests_root, trees, hub, files, raw, work, file_timeout):
    """Run each of `files` on the tree of `side`; returns {file: (results or None, summary)}."""
    src = trees[side]
    home = private_home(hub, work / side / "hfhome")
    (raw / side).mkdir(parents=True, exist_ok=True)
    done = {}
    for file in files:
        stem = file.removeprefix("tests/").removesuffix(".py").replace("/", "--")
        report, log = raw / side / f"{stem}.json", raw / side / f"{stem}.log"
        start = time.monotonic()
        status = run_pytest(tests_root, src, home, [file], report, log, file_timeout=file_timeout)
        wall = time.monotonic() - start
        if status is None:
            done[file] = (None, f"not run to the end: killed after {file_timeout} s")
        elif not report.is_file():
            done[file] = (None, f"not run: pytest exited with {status} and no report (see {_rel(log)})")
        else:
            results = outcomes.read(report)
            done[file] = (results, counts(results))
        print(f"[{side}] {file}: {done[file][1]} ({wall:.0f} s)", flush=True)
    return done


# ---------------------------------------------------------------------------------------------------- reports
def report(line, revision, trees, series, runs, absent, wall):
    """The suite's json (a dict) from {side: {file: (results or None, summary)}}; `series`: {patch: diff digest}."""
    merged = {side: {} for side in SIDES}
    for side in SIDES:
        for results, _ in runs[side].values():
            merged[side].update(results or {})
    crashed = {file for file, (results, _) in runs["fork"].items() if results is None}
    regressions, fixed, other = compare(merged["pristine"], merged["fork"], crashed)
    both = {name: [] for name, _ in CATEGORIES} | {"other": []}
    for node, (outcome, message) in sorted(merged["pristine"].items()):
        if outcome in ("failed", "error") and merged["fork"].get(node, ("",))[0] in ("failed", "error"):
            both[category(node, message)].append(node)
    both = {name: nodes for name, nodes in both.items() if nodes}
    # The first line of each listed test's message: the fork's for regressions, else pristine's.
    messages = {node: first_line(merged["fork"].get(node, ("", ""))[1]) for node in regressions}
    for node in fixed + list(other) + [node for nodes in both.values() for node in nodes]:
        messages[node] = first_line(merged["pristine"].get(node, ("", ""))[1])
    return {
        "line": line.name,
        "revision": revision,
        "diffusers": {side: tree_version(trees[side]) for side in SIDES},
        "series": series,
        "transformers": metadata.version("transformers"),
        "torch": metadata.version("torch"),
        "python": platform.python_version(),
        "files": {
            f: {side: runs[side][f][1] for side in SIDES} | {"series": digest(series)} for f in runs["pristine"]
        },
        "total": {side: counts(merged[side]) for side in SIDES},
        "regressions": regressions,
        "fixed": fixed,
        "other_differences": {node: {"pristine": a, "fork": b} for node, (a, b) in other.items()},
        "failing_on_both": dict(both),
        "absent_files": list(absent),
        "wall_s": round(wall),
        "messages": messages,
    }


def merge(recorded, run):
    """
    `run` laid over the `recorded` suite when both are of the same revision, trees and transformers: the files of `run`
    replace their rows, tests and messages, the others are kept (each row names the series it ran with). Otherwise
    `run` alone.
    """
    keys = ("revision", "diffusers", "transformers")
    if recorded is None or any(recorded.get(key) != run[key] for key in keys):
        return run
    ran = set(run["files"]) | set(run["absent_files"])

    def kept(nodes):
        return [node for node in nodes if node.split("::")[0] not in ran]

    merged = dict(run, files={f: c for f, c in recorded["files"].items() if f not in ran} | run["files"])
    merged["total"] = {side: add_counts(c[side] for c in merged["files"].values()) for side in SIDES}
    for key in ("regressions", "fixed"):
        merged[key] = sorted(kept(recorded[key]) + run[key])
    merged["other_differences"] = {n: o for n, o in recorded["other_differences"].items() if kept([n])}
    merged["other_differences"].update(run["other_differences"])
    both = {name: kept(nodes) for name, nodes in recorded["failing_on_both"].items()}
    for name, nodes in run["failing_on_both"].items():
        both[name] = sorted(both.get(name, []) + nodes)
    merged["failing_on_both"] = {name: nodes for name, nodes in both.items() if nodes}
    merged["absent_files"] = sorted(set(kept(recorded["absent_files"])) | set(run["absent_files"]))
    merged["messages"] = {n: m for n, m in recorded["messages"].items() if kept([n])} | run["messages"]
    merged["wall_s"] = recorded["wall_s"] + run["wall_s"]
    return merged


def digest(series):
    """A short name of a whole series ({patch: diff digest})."""
    return hashlib.sha256(json.dumps(series, sort_keys=True).encode()).hexdigest()[:12]


def add_counts(summaries):
    """The sum of `counts()` summaries ('24 passed, 1 failed, 12 skipped', ...), in the same form."""
    total = collections.Counter()
    for summary in summaries:
        for number, word in re.findall(r"(\d+) (\w+)", summary):
            total[{"errors": "error"}.get(word, word)] += int(number)
    return counts({i: (outcome, "") for i, outcome in enumerate(total.elements())})


def markdown(suite):
    d = suite["diffusers"]
    out = [
        f"# Upstream suite, line {suite['line']}",
        "",
        f"huggingface/diffusers tests at {suite['revision']}, offline (hub stand-ins), on pristine diffusers "
        f"{d['pristine']} and on the fork {d['fork']} (lines/{suite['line']}/series: "
        + ", ".join(f"{name} {diff}" for name, diff in suite["series"].items())
        + f"; series {digest(suite['series'])}); transformers {suite['transformers']}, torch {suite['torch']}, Python {suite['python']}, CPU; "
        f"{suite['wall_s']} s.",
        "",
        "| tests | pristine | fork | series |",
        "| --- | --- | --- | --- |",
    ]
    out += [f"| `{f}` | {c['pristine']} | {c['fork']} | {c.get('series', '')} |" for f, c in suite["files"].items()]
    out += [f"| all | {suite['total']['pristine']} | {suite['total']['fork']} | |", ""]
    if len({c.get("series") for c in suite["files"].values()}) > 1:
        out += ["Rows of another series ran with an earlier version of the series' patches.", ""]
    if suite["absent_files"]:
        out += ["Not at this revision: " + ", ".join(f"`{f}`" for f in suite["absent_files"]) + ".", ""]
    messages = suite["messages"]
    out += [f"## Regressions: pass on pristine, fail on the fork ({len(suite['regressions'])})", ""]
    out += [f"- `{node}`: {messages.get(node, '')}" for node in suite["regressions"]] or ["None."]
    out += ["", f"## Fixed: fail on pristine, pass on the fork ({len(suite['fixed'])})", ""]
    out += [f"- `{node}` (pristine: {messages.get(node, '')})" for node in suite["fixed"]] or ["None."]
    if suite["other_differences"]:
        out += ["", "## Other differences", ""]
        for node, o in suite["other_differences"].items():
            out.append(f"- `{node}`: pristine {o['pristine']}, fork {o['fork']}")
    both = suite["failing_on_both"]
    out += ["", f"## Failing on both sides, by cause ({sum(len(v) for v in both.values())})", ""]
    for name, nodes in both.items():
        out += [f"### {name} ({len(nodes)})", ""]
        out += [f"- `{node}`: {messages.get(node, '')}" for node in nodes] + [""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------------- entry points
def run_tests(repo, ids, src):
    """
    Run the pytest node ids `ids` in the checkout `repo` (holding tests/) with `src` first on PYTHONPATH, offline on
    the stand-in hub cache; returns {node id: "passed" | "failed" | "error" | "skipped"}. A test parametrized into
    several (`[...]` or parameterized's `_<n>` suffixes) gets the worst outcome of its cases.
    """
    missing = missing_packages()
    if missing:
        raise SystemExit(f"the upstream tests need: {', '.join(missing)} (pip install, or `make install`)")
    hub = ensure_standins(src)
    with tempfile.TemporaryDirectory(prefix="upstream-tests-") as tmp:
        home = private_home(hub, Path(tmp) / "hfhome")
        report, log = Path(tmp) / "outcomes.json", Path(tmp) / "pytest.log"
        run_pytest(repo, src, home, list(ids), report, log)
        results = outcomes.read(report)
    found = {}
    for node in ids:
        cases = [o for n, (o, _) in results.items() if re.fullmatch(re.escape(node) + r"(\[.*\]|_\d+(_\w*)?)?", n)]
        rank = ("error", "failed", "xfailed", "passed", "xpassed", "skipped")
        worst = min(cases, key=rank.index) if cases else "error"
        found[node] = {"xfailed": "failed", "xpassed": "passed"}.get(worst, worst)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m forktools.upstream.suite", description=__doc__.split("\n\n")[0])
    upstream_arguments(parser, "upstream-suite")
    parser.add_argument("--files", nargs="+", help=f"test files (default: the {len(FILES)} of FAMILIES)")
    parser.add_argument("--families", nargs="+", choices=sorted(FAMILIES), help="only these families' test files")
    parser.add_argument("--file-timeout", type=int, default=FILE_TIMEOUT, help="seconds per test file")
    args = parser.parse_args(argv)
    line = select(args.line)
    if args.upstream is None:
        return skipped(line, "upstream-suite")
    files = args.files or [file for name in (args.families or FAMILIES) for file in FAMILIES[name]]
    try:
        return suite(line, Path(args.upstream), Path(args.out).resolve(), files, args.record, args.file_timeout)
    except SuiteError as error:
        print(f"upstream suite: {error}", file=sys.stderr)
        return 2


def suite(line, upstream, out, files, record, file_timeout):
    start = time.monotonic()
    missing = missing_packages()
    if missing:
        raise SuiteError(
            f"{sys.executable} lacks {', '.join(missing)}: pip install it (it is in the fork's `test` extra)"
        )
    revision, tests_root, trees, hub = prepare(line, upstream)
    absent = [f for f in files if not (tests_root / f).is_file()]
    files = [f for f in files if f not in absent]
    for file in absent:
        print(f"{file}: not at revision {revision}, skipped")
    # Each patch's diff (not its header), as a short sha256: which series the fork's counts are of.
    queue = Queue(line)
    series = {name: hashlib.sha256(queue.read_patch(name)[1].encode()).hexdigest()[:12] for name in queue.series()}
    raw, work = out / line.name, ROOT / "build" / "upstream-suite" / line.name
    print(
        f"line {line.name}: {len(files)} file(s) of huggingface/diffusers {revision[:12]}, pristine "
        f"{tree_version(trees['pristine'])} and fork {tree_version(trees['fork'])}, transformers "
        f"{metadata.version('transformers')}, offline; raw reports in {_rel(raw)}/",
        flush=True,
    )
    runs = on_both_sides(run_side, tests_root, trees, hub, files, raw, work, file_timeout)
    result = report(line, revision, trees, series, runs, absent, time.monotonic() - start)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / f"{line.name}.json", out / f"{line.name}.md"]
    written[0].write_text(json.dumps(result, indent=1) + "\n")
    written[1].write_text(markdown(result))
    if record:
        recorded = line.folder / "upstream-suite.json"
        kept = merge(json.loads(recorded.read_text()) if recorded.is_file() else None, result)
        recorded.write_text(json.dumps(kept, indent=1) + "\n")
        recorded.with_suffix(".md").write_text(markdown(kept))
        written += [recorded, recorded.with_suffix(".md")]
    print(f"all: pristine {result['total']['pristine']}; fork {result['total']['fork']}")
    print(f"{len(result['regressions'])} regression(s), {len(result['fixed'])} fixed")
    for node in result["regressions"]:
        print(f"REGRESSION {node}: {result['messages'].get(node, '')}")
    print(f"wrote {', '.join(str(_rel(p)) for p in written)} in {result['wall_s']} s")
    return 1 if result["regressions"] else 0


if __name__ == "__main__":
    sys.exit(main())
