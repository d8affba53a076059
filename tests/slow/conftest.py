"""Skipping rules and the report of the SD3.5 slow suite, rewritten after every case (a run stopped half-way still
leaves one, its cases not reached marked "not run"). `SD35_DEADLINE=<epoch seconds>` skips the cases not started by
then, as `make gpu-check` sets it."""

import os
import time

import pytest

# The outcomes are recorded as every tool of the fork records them: forktools.outcomes' hooks run from here.
from forktools import outcomes
from forktools.outcomes import RECORDED as OUTCOMES
from forktools.outcomes import pytest_collectreport  # noqa: F401


RESULTS = {}  # nodeid -> dict(model=..., dtype=..., case=..., load_s=..., seconds_per_step=..., peak_gib=..., note=...)
DEADLINE = float(os.environ.get("SD35_DEADLINE") or "inf")
COLLECTED = []  # the node ids of the run, in order


def pytest_collection_finish(session):
    COLLECTED[:] = [item.nodeid for item in session.items]
    write_report()  # every case "not run" yet


def pytest_runtest_setup(item):
    if time.time() >= DEADLINE:
        pytest.skip("not run: the budget was spent before this case")


def pytest_runtest_logreport(report):
    outcomes.pytest_runtest_logreport(report)
    if report.when == "teardown":
        write_report()


def write_report():
    """Write the report of the cases so far; returns how many were skipped."""
    rows = [n for n in dict.fromkeys(COLLECTED + list(OUTCOMES)) if n in RESULTS or "test_sd35_precision" in n]
    if not rows:
        return 0
    path = os.environ.get("SD35_SLOW_REPORT", os.path.join("out", "sd35-slow-report.md"))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    import torch

    import diffusers

    device = RESULTS.get("_device", "n/a")
    lines = [
        f"SD3.5 slow suite, {time.strftime('%Y-%m-%d %H:%M')}, diffusers {diffusers.__version__}, "
        f"torch {torch.__version__}, device: {device}",
        "",
        "| model | dtype | case | result | load s | s/step | peak CUDA GiB | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    skipped = 0
    for nodeid in rows:
        outcome, message = OUTCOMES.get(nodeid, ("not run", "the run was stopped before this case"))
        info = RESULTS.get(nodeid, {})
        skipped += outcome == "skipped"
        first = (message.splitlines() or [""])[0].removeprefix("Skipped: ")
        result = outcome if outcome == "passed" else f"{outcome}: {first[:100]}".replace("|", "/")
        times = [f"{info[key]:.3f}" if info.get(key) else "" for key in ("load_s", "seconds_per_step", "peak_gib")]
        lines.append(
            f"| {info.get('model', '')} | {info.get('dtype', '')} | {info.get('case', nodeid.split('::')[-1])} "
            f"| {result} | {' | '.join(times)} | {info.get('note', '')} |"
        )
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return skipped


def pytest_sessionfinish(session, exitstatus):
    if not OUTCOMES:
        return
    skipped = write_report()
    print(f"\nSD3.5 slow-suite report written to {os.environ.get('SD35_SLOW_REPORT', 'out/sd35-slow-report.md')}")
    if os.environ.get("SD35_SLOW_NO_SKIP") == "1" and skipped:
        print(f"SD35_SLOW_NO_SKIP=1 but {skipped} case(s) were skipped")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def slow_report():
    """The rows of the end-of-run report, by test node id."""
    return RESULTS


@pytest.fixture(autouse=True)
def free_memory(request):
    """Collect garbage and empty the accelerator cache around each test, as diffusers' slow tests do; record the test's
    peak CUDA memory."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    yield
    if torch.cuda.is_available() and request.node.nodeid in RESULTS:
        RESULTS[request.node.nodeid]["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
