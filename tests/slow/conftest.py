"""Skipping rules and the end-of-run report of the SD3.5 slow suite. `SD35_DEADLINE=<epoch seconds>` skips the cases not
started by then ("not run"), as `make gpu-check` sets it."""

import os
import time

import pytest

# The outcomes are recorded as every tool of the fork records them: forktools.outcomes' hooks run from here.
from forktools.outcomes import RECORDED as OUTCOMES
from forktools.outcomes import pytest_collectreport, pytest_runtest_logreport  # noqa: F401


RESULTS = {}  # nodeid -> dict(model=..., dtype=..., case=..., load_s=..., seconds_per_step=..., peak_gib=..., note=...)
DEADLINE = float(os.environ.get("SD35_DEADLINE") or "inf")


def pytest_runtest_setup(item):
    if time.time() >= DEADLINE:
        pytest.skip("not run: the budget was spent before this case")


def pytest_sessionfinish(session, exitstatus):
    rows = [nodeid for nodeid in OUTCOMES if nodeid in RESULTS or "test_sd35_precision" in nodeid]
    if not rows:
        return
    path = os.environ.get("SD35_SLOW_REPORT", os.path.join("out", "sd35-slow-report.md"))
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    import torch

    import diffusers

    device = RESULTS.get("_device", "n/a")
    lines = [
        f"SD3.5 slow suite, {time.strftime('%Y-%m-%d %H:%M')}, diffusers {diffusers.__version__}, "
        f"torch {torch.__version__}, device: {device}",
        "",
        "| model | dtype | case | result | load s | s/step | peak GPU GiB | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    skipped = 0
    for nodeid in rows:
        outcome, message = OUTCOMES[nodeid]
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
    print(f"\nSD3.5 slow-suite report written to {path}")
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
