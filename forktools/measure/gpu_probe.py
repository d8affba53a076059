"""pytest plugin of `make gpu-check`: times the slow suite's cases without changing them.

    GPU_CHECK_PROBE=out.jsonl GPU_CHECK_DEADLINE=<epoch s> pytest tests/slow/... -p forktools.measure.gpu_probe \
        -p forktools.outcomes

Per case it appends one JSON line to GPU_CHECK_PROBE: the seconds of the suite's own `load()`, of the
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


def pytest_runtest_logreport(report):
    """After each case's teardown: its times (its outcome is recorded by the forktools.outcomes plugin)."""
    if report.when != "teardown":
        return
    import diffusers

    steps = TIMES["step"]
    record = {
        "nodeid": report.nodeid,
        "diffusers": [diffusers.__version__, diffusers.__file__],
        "load_s": TIMES["load"][0] if TIMES["load"] else None,
        "encode_s": min(TIMES["encode"], default=None),
        "step_s": statistics.median(steps[1:]) if len(steps) > 1 else None,
        "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if CUDA else None,
        "offload": any(TIMES["offload"]),
    }
    with open(os.environ["GPU_CHECK_PROBE"], "a") as f:
        f.write(json.dumps(record) + "\n")
