"""pytest plugin behind `make gpu-check`: measures the slow suite's cases without changing them.

    python -m pytest tests/slow/test_sd35_precision.py::... -p forktools.measure.gpu_probe

Loaded only by `forktools.measure.gpu_check`, which passes it, in the environment:

- `GPU_CHECK_PROBE`: a file this plugin appends one JSON line to per case and image size;
- `GPU_CHECK_PLAN`: JSON {test node id: {"deadline": epoch seconds, "estimate": seconds, "extra_sizes": [...],
  "extra_estimate": seconds}}. A case whose estimate would end past its deadline is skipped ("budget: ..."), and so
  is each extra size.

Per case it times the suite's own `load()` (`from_pretrained` and the move to the device, or model CPU offload),
every `encode_prompt` call and every transformer call (one per denoising step), and reads the peak GPU memory. The
test runs at `SD35_SIZE`; when it passes, the suite's `generate()` runs again on the same loaded pipeline at each
extra size, so one load serves every size.
"""

import gc
import json
import os
import statistics
import time

import pytest


PLAN = json.loads(os.environ.get("GPU_CHECK_PLAN") or "{}")
PROBE = os.environ.get("GPU_CHECK_PROBE")


class State:
    def __init__(self):
        self.reset()
        self.pipe = self.model = None
        self.load_s = None
        self.offload = False

    def reset(self):
        self.encodes, self.steps, self.started = [], [], None


STATE = State()
METRICS = {}  # node id -> metrics of the test's own size, written with its outcome


def _cuda():
    import torch

    return torch.cuda.is_available()


def _sync():
    if _cuda():
        import torch

        torch.cuda.synchronize()


def _reset_peak():
    if _cuda():
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib():
    if not _cuda():
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**30


def _write(record):
    if PROBE:
        with open(PROBE, "a") as f:
            f.write(json.dumps(record) + "\n")


def _metrics(size):
    steps = STATE.steps
    return {
        "size": size,
        "load_s": STATE.load_s,
        "encode_s": min(STATE.encodes) if STATE.encodes else None,
        "encode_calls": len(STATE.encodes),
        # The first transformer call of a generation pays one-off costs (kernel selection, allocator growth).
        "step_s": statistics.median(steps[1:]) if len(steps) > 1 else (steps[0] if steps else None),
        "first_step_s": steps[0] if steps else None,
        "steps": len(steps),
        "peak_gib": _peak_gib(),
        "offload": STATE.offload,
    }


def _instrument(module):
    """Wrap the suite's `load` and the pipeline class's `encode_prompt` once per process."""
    if getattr(module, "_gpu_probe", False):
        return
    import diffusers
    from diffusers import StableDiffusion3Pipeline

    original_load, original_encode = module.load, StableDiffusion3Pipeline.encode_prompt

    def load(model, dtype):
        _sync()
        start = time.perf_counter()
        pipe, note = original_load(model, dtype)
        _sync()
        STATE.load_s = time.perf_counter() - start
        STATE.pipe, STATE.model, STATE.offload = pipe, model, bool(note)

        def before(*_):
            _sync()
            STATE.started = time.perf_counter()

        def after(*_):
            _sync()
            STATE.steps.append(time.perf_counter() - STATE.started)

        pipe.transformer.register_forward_pre_hook(before)
        pipe.transformer.register_forward_hook(after)
        return pipe, note

    def encode_prompt(self, *args, **kwargs):
        _sync()
        start = time.perf_counter()
        result = original_encode(self, *args, **kwargs)
        _sync()
        STATE.encodes.append(time.perf_counter() - start)
        return result

    module.load = load
    StableDiffusion3Pipeline.encode_prompt = encode_prompt
    module._gpu_probe = True
    _write({"kind": "versions", "diffusers": diffusers.__version__, "diffusers_file": diffusers.__file__})


def _budget_left(plan, key="estimate"):
    """None when `plan[key]` seconds fit before the deadline, else the skip reason."""
    if not plan or "deadline" not in plan:
        return None
    left = plan["deadline"] - time.time()
    if plan.get(key, 0) > left:
        return f"budget: needs ~{plan[key]:.0f} s, {max(left, 0):.0f} s left"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    reason = _budget_left(PLAN.get(item.nodeid))
    if reason:
        pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _instrument(item.module)
    STATE.reset()
    STATE.pipe = STATE.model = STATE.load_s = None
    STATE.offload = False
    _reset_peak()
    outcome = yield
    size = item.module.SIZE
    METRICS[item.nodeid] = _metrics(size)
    plan = PLAN.get(item.nodeid, {})
    extra = plan.get("extra_sizes", [])
    try:
        for extra_size in extra:
            record = {"kind": "case", "nodeid": item.nodeid, "size": extra_size}
            reason = _budget_left(plan, "extra_estimate")
            if outcome.excinfo is not None or STATE.pipe is None:
                record["result"] = f"not run: the {size}px case did not pass"
            elif reason:
                record["result"] = f"skipped: {reason}"
            else:
                STATE.reset()
                _reset_peak()
                item.module.SIZE = extra_size
                try:
                    item.module.generate(STATE.pipe, STATE.model)
                    record["result"] = "passed"
                except Exception as error:  # the extra size's own failure, reported in its row
                    record["result"] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:150]}"
                finally:
                    item.module.SIZE = size
                record.update(_metrics(extra_size))
            _write(record)
    finally:
        STATE.pipe = STATE.model = None
        gc.collect()
        if _cuda():
            import torch

            torch.cuda.empty_cache()


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if report.outcome == "passed":
            result = "passed"
        else:
            crash = getattr(report.longrepr, "reprcrash", None)
            if crash is not None:
                message = crash.message.splitlines()[0]
            elif isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
                message = report.longrepr[2].removeprefix("Skipped: ")
            else:
                message = (str(report.longrepr or "").strip().splitlines() or [""])[-1]
            result = f"{report.outcome}: {message[:200]}"
        record = {"kind": "case", "nodeid": report.nodeid, "result": result}
        record.update(METRICS.pop(report.nodeid, {}))
        _write(record)
