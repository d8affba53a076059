"""`make pipelines`: every pipeline of upstream's tests in mixed precision, on pristine upstream and on the fork.

    python -m forktools.measure.pipelines [--line L] [--upstream PATH] [--files F ...] [--setups U,M,...]
                                          [--fork-src DIR] [--record]

For each test class of upstream's `tests/pipelines` and `tests/modular_pipelines` (huggingface/diffusers at the
line's `[upstream_tests] revision`, extracted as `make upstream-suite` does; PATH or $UPSTREAM) that builds a pipeline
from dummy components (`get_dummy_components()`, or a modular pipeline's `get_pipeline()`), the pipeline is run on its
dummy inputs in four setups:

    U  every module in bfloat16 (the control: a pipeline that fails here is "not runnable")
    M  text encoders in float32, every other module in bfloat16 ("T5 in fp32 for quality")
    R  text encoders in bfloat16, every other module in float32
    H  text encoders in float16, every other module in bfloat16 (the pair of huggingface/diffusers#11117)
    P  every module in bfloat16, the prompts passed in as float32 embeddings (made by the pipeline's own
       `encode_prompt`); "n/a" where `__call__` takes no `prompt_embeds` or does not run on them in bfloat16

Text encoders are the components whose name starts with `text_encoder`. Both trees run offline on the hub stand-ins
(forktools.upstream.hub_standins), one process per tree, one forked child per test file (forktools/measure/
pipeline_worker.py). The fork is `src/` (the line `make vendor` materialized, with any edit not yet exported) unless
--fork-src names another tree. Writes out/pipelines/<line>.{json,md}: per pipeline and per family (the test folder),
runnable, crashes on pristine, crashes on the fork, regressions (ran on pristine, crash on the fork). --record copies
them to lines/<line>/pipelines.{json,md}. Exit status: 1 when the fork crashes where pristine ran, else 0 (2 when it
cannot run).
"""

import argparse
import collections
import json
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from ..lines import ROOT, select
from ..upstream import suite
from ..upstream.suite import SuiteError, _rel, tree_version


SIDES = ("pristine", "fork")
SETUPS = ("U", "M", "R", "H", "P")
MIXED = SETUPS[1:]
WORKER = Path(__file__).with_name("pipeline_worker.py")
FOLDERS = ("tests/pipelines", "tests/modular_pipelines")
# The denoiser a pipeline's components hold, in this order of precedence.
DENOISERS = (("unet", "UNet"), ("prior", "UNet"), ("decoder", "UNet"), ("transformer", "transformer"))


def test_files(tests_root):
    files = []
    for folder in FOLDERS:
        for path in sorted((tests_root / folder).rglob("test_*.py")):
            files.append(path.relative_to(tests_root).as_posix())
    return files


def run_side(side, tests_root, trees, hub, files, out, work, timeout, setups=SETUPS):
    """One worker process over `files` with the tree of `side` first on PYTHONPATH; returns its records."""
    home = suite.private_home(hub, work / side / "hfhome")
    jsonl, log = out / f"{side}.jsonl", out / f"{side}.log"
    jsonl.unlink(missing_ok=True)
    env = suite.offline_env(
        home, trees[side], tests_root, TRANSFORMERS_VERBOSITY="error", OMP_NUM_THREADS="1",
        PIPELINE_WORKER_TIMEOUT=str(timeout), PIPELINE_WORKER_SETUPS=",".join(setups),
    )  # fmt: skip
    with open(log, "w") as stream:
        subprocess.run(
            [sys.executable, str(WORKER), str(jsonl), *files],
            cwd=tests_root,
            env=env,
            stdout=stream,
            stderr=subprocess.STDOUT,
            check=False,
        )
    records = read_records(jsonl)
    print(f"[{side}] {len(files)} file(s) done", flush=True)
    return records


def family(file):
    parts = file.split("/")
    return ("modular " if parts[1] == "modular_pipelines" else "") + (parts[2] if len(parts) > 3 else parts[-1])


def tabulate(records):
    """{(file, class): {"pipeline", "family", "kind", "text", "pristine": {setup: outcome}, "fork": ..., ...}}."""
    table = {}
    for side, recs in records.items():
        for r in recs:
            if r.get("setup") is None:
                continue
            key = (r["file"], r["class"])
            entry = table.setdefault(
                key,
                {
                    "file": r["file"],
                    "class": r["class"],
                    "pipeline": r["pipeline"],
                    "family": family(r["file"]),
                    "kind": None,
                    "text": False,
                    "pristine": {},
                    "fork": {},
                    "errors": {"pristine": {}, "fork": {}},
                },
            )
            entry[side][r["setup"]] = r["outcome"]
            if r["outcome"] != "ok":
                entry["errors"][side][r["setup"]] = r.get("error", "") + (f" ({r['where']})" if r.get("where") else "")
            dtypes = r.get("dtypes") or {}
            entry["text"] = entry["text"] or bool(r.get("text_conditioned"))
            for name, kind in DENOISERS:
                if entry["kind"] is None and name in dtypes:
                    entry["kind"] = kind
    for entry in table.values():
        fork = entry["fork"]  # a setup is missing when a partial run did not reach it, or its file ran out of time
        entry["runnable"] = entry["text"] and entry["pristine"].get("U") == "ok"
        entry["crash_pristine"] = entry["runnable"] and any(entry["pristine"].get(s) == "crash" for s in MIXED)
        entry["crash_fork"] = entry["runnable"] and any(fork.get(s) == "crash" for s in MIXED)
        complete = fork.get("U") == "crash" or all(s in fork for s in ("U", *MIXED))
        entry["measured"] = complete or entry["crash_fork"] or not entry["runnable"]
        entry["regressions"] = [s for s, o in entry["pristine"].items() if o == "ok" and fork.get(s) == "crash"]
    return table


def file_problems(records):
    """{file: why} for files that yielded no pipeline (import errors, timeouts, no test class) on pristine."""
    found = {}
    for r in records.get("pristine", []):
        if r.get("setup") is None:
            found[r["file"]] = r["outcome"] + (f": {r['error']}" if r.get("error") else "")
    return found


def summary(table):
    """{family: Counter} and the totals, over text-conditioned pipelines."""
    families = collections.defaultdict(collections.Counter)
    for e in table.values():
        if not e["text"] and e["pristine"].get("U") == "ok":
            continue  # ran, but has no text encoder: nothing to mix
        c = families[e["family"]]
        c["pipelines"] += 1
        c["runnable"] += e["runnable"]
        c["crash_pristine"] += e["crash_pristine"]
        c["crash_fork"] += e["crash_fork"]
        c["not_measured"] += not e["measured"]
        c["regressions"] += bool(e["regressions"])
        c["kind " + (e["kind"] or "?")] += 1
    return families


def markdown(result):
    table, families = result["table"], result["families"]
    total = collections.Counter()
    for c in families.values():
        total.update(c)
    out = [
        f"# Mixed-precision pipelines, line {result['line']}",
        "",
        f"huggingface/diffusers tests at {result['revision']}: every pipeline test class's dummy components, offline, "
        f"on pristine diffusers {result['diffusers']['pristine']} and on the fork {result['diffusers']['fork']}; "
        f"transformers {result['transformers']}, torch {result['torch']}, CPU"
        + (f"; {result['wall_s']} s" if result.get("wall_s") else "")
        + f"; test files run: {result['files']['pristine']} on pristine, {result['files']['fork']} on the fork. Setups: U every "
        "module bf16; M text encoders fp32, the rest bf16; R text encoders bf16, the rest fp32; H text encoders "
        "fp16, the rest bf16; P every module bf16, the prompts passed in as fp32 embeddings (`n/a`: the pipeline takes "
        "none). A pipeline crashes when M, R, H or P fails; `-` is a setup not run (a partial run, or its test "
        "file ran out of time).",
        "",
        "| family | denoiser | pipelines (text-conditioned, or failing U) | runnable offline (U) | crash on pristine | crash on the fork "
        "| not run on the fork yet | regressions |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in sorted(families, key=lambda n: (n.startswith("modular"), n)):
        c = families[name]
        kinds = "/".join(k[5:] for k in sorted(c) if k.startswith("kind ") and c[k])
        out.append(
            f"| {name} | {kinds} | {c['pipelines']} | {c['runnable']} | {c['crash_pristine']} | {c['crash_fork']} "
            f"| {c['not_measured']} | {c['regressions']} |"
        )
    out.append(
        f"| **all** | | {total['pipelines']} | {total['runnable']} | {total['crash_pristine']} | "
        f"{total['crash_fork']} | {total['not_measured']} | {total['regressions']} |"
    )
    out += [
        "",
        "## Per pipeline",
        "",
        "| test | pipeline | denoiser | pristine U M R H P | fork U M R H P |",
        "| --- | --- | --- | --- | --- |",
    ]
    mark = {"ok": "ok", "crash": "X", "n/a": "n/a", None: "-"}
    for key in sorted(table, key=lambda k: (table[k]["family"], k)):
        e = table[key]
        if not e["text"] and e["pristine"].get("U") == "ok":
            continue
        cells = {side: " ".join(mark.get(e[side].get(s), "?") for s in SETUPS) for side in SIDES}
        out.append(
            f"| `{e['file'].split('/', 2)[2]}::{e['class']}` | {e['pipeline']} | {e['kind'] or '?'} "
            f"| {cells['pristine']} | {cells['fork']} |"
        )
    crashes = [e for e in table.values() if e["crash_fork"] or e["regressions"]]
    if crashes:
        out += ["", "## Crashes on the fork", ""]
        for e in sorted(crashes, key=lambda e: (e["family"], e["pipeline"])):
            first = next(iter(e["errors"]["fork"].items()), ("", ""))
            out.append(f"- {e['pipeline']} (`{e['file']}`) {first[0]}: {first[1][:240]}")
    not_runnable = [e for e in table.values() if e["text"] is False and e["pristine"].get("U") not in (None, "ok")]
    not_runnable += [e for e in table.values() if e["text"] and e["pristine"].get("U") != "ok"]
    problems = result["file_problems"]
    if not_runnable or problems:
        out += ["", "## Not runnable offline in U on pristine", ""]
        for e in sorted(not_runnable, key=lambda e: (e["family"], e["pipeline"])):
            out.append(f"- {e['pipeline']} (`{e['file']}`): {e['errors']['pristine'].get('U', '')[:240]}")
        for file, why in sorted(problems.items()):
            out.append(f"- `{file}`: {why[:240]}")
    return "\n".join(out).rstrip() + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m forktools.measure.pipelines", description=__doc__.split("\n\n")[0]
    )
    suite.upstream_arguments(parser, "pipelines")
    parser.add_argument("--files", nargs="+", help="test files (default: every test_*.py of tests/*pipelines)")
    parser.add_argument("--fork-src", default=str(ROOT / "src"), help="the fork's tree (default: src/)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per test file")
    parser.add_argument("--setups", default=",".join(SETUPS), help="only these setups (comma-separated)")
    parser.add_argument(
        "--tabulate", action="store_true", help="only write the tables from the records of an earlier (partial) run"
    )
    args = parser.parse_args(argv)
    line, out = select(args.line), Path(args.out).resolve()  # resolved: the workers run in another folder
    if args.tabulate:
        return write(line, out, {side: read_records(out / line.name / f"{side}.jsonl") for side in SIDES}, args.record)
    if args.upstream is None:
        return suite.skipped(line, "pipelines")
    if args.record and args.files:
        parser.error("--record records every pipeline: drop --files")
    try:
        return measure(line, args, out)
    except SuiteError as error:
        print(f"pipelines: {error}", file=sys.stderr)
        return 2


def measure(line, args, out):
    start = time.monotonic()
    revision, tests_root, trees, hub = suite.prepare(line, Path(args.upstream), Path(args.fork_src))
    files = args.files or test_files(tests_root)
    raw, work = out / line.name, ROOT / "build" / "pipelines" / line.name
    raw.mkdir(parents=True, exist_ok=True)
    print(
        f"line {line.name}: {len(files)} test file(s), pristine {tree_version(trees['pristine'])} and fork "
        f"{tree_version(trees['fork'])}, offline; raw records in {_rel(raw)}/",
        flush=True,
    )
    setups = args.setups.split(",")
    records = suite.on_both_sides(run_side, tests_root, trees, hub, files, raw, work, args.timeout, setups)
    return write(line, out, records, args.record, trees, revision, time.monotonic() - start)


def read_records(path):
    """The records of a worker's jsonl file, finished or not."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def write(line, out, records, record, trees=None, revision=None, wall=None):
    """Tabulate `records`, write out/pipelines/<line>.{json,md} (and, with `record`, lines/<line>/); exit status."""
    table = tabulate(records)
    finished = {side: {r["file"] for r in records[side]} for side in SIDES}
    result = {
        "line": line.name,
        "revision": revision or line.upstream_tests.get("revision"),
        "diffusers": {
            side: tree_version(trees[side]) if trees else f"{line.version}{'+' + line.label if side == 'fork' else ''}"
            for side in SIDES
        },
        "transformers": metadata.version("transformers"),
        "torch": metadata.version("torch"),
        "wall_s": round(wall) if wall is not None else None,
        "files": {side: len(finished[side]) for side in SIDES},
        "families": {name: dict(c) for name, c in summary(table).items()},
        "file_problems": file_problems(records),
        "table": {f"{k[0]}::{k[1]}": v for k, v in sorted(table.items())},
    }
    written = [out / f"{line.name}.json", out / f"{line.name}.md"]
    out.mkdir(parents=True, exist_ok=True)
    written[0].write_text(json.dumps(result, indent=1) + "\n")
    written[1].write_text(markdown(result))
    if record:
        for path in written:
            shutil.copyfile(path, line.folder / f"pipelines{path.suffix}")
    total = collections.Counter()
    for c in result["families"].values():
        total.update(c)
    regressions = [k for k, e in result["table"].items() if e["regressions"]]
    print(
        f"text-conditioned: {total['pipelines']}, runnable offline: {total['runnable']}, crash on pristine: "
        f"{total['crash_pristine']}, crash on the fork: {total['crash_fork']}, regressions: {len(regressions)}"
    )
    for key in regressions:
        print(f"REGRESSION {key}: {result['table'][key]['regressions']}")
    print(f"wrote {', '.join(str(_rel(p)) for p in written)}")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
