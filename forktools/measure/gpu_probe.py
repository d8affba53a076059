"""pytest plugin of `make gpu-check`: times the slow suite's cases without changing them.

    GPU_CHECK_PROBE=out.jsonl GPU_CHECK_DEADLINE=<epoch s> pytest tests/slow/... -p forktools.measure.gpu_probe

Per case it appends one JSON line to GPU_CHECK_PROBE: the outcome, the seconds of the suite's own `load()`, of the
fastest `encode_prompt` call and of the median transformer call (one per denoising step, the first left out: it pays
one-off costs), the peak GPU memory and the diffusers that ran. A case not started by GPU_CHECK_DEADLINE is not run.
"""

import json
import os
import statistics
import time

import pytest
import torch


DEADLINE = float(os.environ.get("GPU_CHECK_DEADLINE") or "inf")
NOT_REACHED = "not run: the budget was spent before this case"
CUDA = torch.cuda.is_available()
TIMES = {"load": [], "encode": [], "step": [], "offload": []}  # offload: the suite's load() notes


def timed(function, key):
    """`function`, with the seconds of each call appended to TIMES[key]."""
    sync = torch.cuda.synchronize if CUDA else lambda: None

    def wrapper(*args, **kwargs):
        sync()
        start = time.perf_counter()
        result = function(*args, **kwargs)
        sync()
        TIMES[key].append(time.perf_counter() - start)
        return result

    return wrapper


def load_and_hook(load):
    """The suite's `load()`, timed, with every transformer call of the pipeline it returns timed too."""

    def wrapper(model, dtype):
        pipe, note = load(model, dtype)
        TIMES["offload"].append(bool(note))
        pipe.transformer.forward = timed(pipe.transformer.forward, "step")
        return pipe, note

    return wrapper


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if time.time() >= DEADLINE:
        pytest.skip(NOT_REACHED)
    if not getattr(item.module, "_gpu_probe", False):  # once per process
        from diffusers import StableDiffusion3Pipeline as Pipeline

        item.module.load, item.module._gpu_probe = load_and_hook(timed(item.module.load, "load")), True
        Pipeline.encode_prompt = timed(Pipeline.encode_prompt, "encode")
    for times in TIMES.values():
        times.clear()
    if CUDA:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if call.when != "call" and not (call.when == "setup" and report.outcome != "passed"):
        return
    if report.passed:
        result = "passed"
    elif report.skipped:  # longrepr: (file, line, reason)
        reason = report.longrepr[2].removeprefix("Skipped: ")
        result = reason if reason == NOT_REACHED else f"skipped: {reason}"
    else:
        error = call.excinfo.value
        result = f"{report.outcome}: {type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:200]}"
    import diffusers

    steps = TIMES["step"]
    record = {
        "nodeid": item.nodeid,
        "result": result,
        "diffusers": [diffusers.__version__, diffusers.__file__],
        "load_s": TIMES["load"][0] if TIMES["load"] else None,
        "encode_s": min(TIMES["encode"], default=None),
        "step_s": statistics.median(steps[1:]) if len(steps) > 1 else None,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if CUDA else None,
        "offload": any(TIMES["offload"]),
    }
    with open(os.environ["GPU_CHECK_PROBE"], "a") as f:
        f.write(json.dumps(record) + "\n")
