"""`make gpu-check`: the slow SD3.5 suite on full-size SD3.5 Medium- and Large-shaped pipelines with random weights,
built on the spot on a CUDA GPU, fork and pristine upstream side by side, in a time budget it enforces itself.

    python -m forktools.measure.gpu_check [--tiny] [--budget SECONDS] [--out out/gpu-check.md] [--keep]
    python -m forktools.measure.gpu_check --plan             # the on-paper estimate of every step, runs nothing
    python -m forktools.measure.gpu_check --device-command   # a remote-run command line and what it carries

Nothing is downloaded or installed: the fork (`src/diffusers`) and pristine upstream
(`build/upstream/diffusers-<version>/src`) are put first on each subprocess's PYTHONPATH, so it also runs where
diffusers is not installed. Steps, each in its own process (a crash or a hang costs one step, peak GPU memory is
per process):

1. build Medium on the device, one component at a time, at the real configs (docs/sd35-checkpoints.md),
   and save it in the real repositories' layout (text encoders fp16 with `torch_dtype: float16`, transformer bf16,
   VAE fp16, the real scheduler config, offline tokenizers); text encoders, tokenizers, scheduler and VAE are the
   same in Medium and Large, so they are written once and linked into both;
2. pristine upstream, uniform bf16 (the fork/upstream reference);
3. the fork: bf16, the T5-fp32 mixed load, fp16, fp32 and the default load (no dtype);
4. delete Medium's transformer, build Large's, and run 2-3 on Large; delete everything (unless --keep).

Steps 2-3 are the slow suite itself (`tests/slow`, pytest) with SD35_MEDIUM / SD35_LARGE pointing at the built
folders, measured by the `forktools.measure.gpu_probe` plugin. One load serves every image size (the test at the
first size, then the suite's `generate()` at the others). Every step has an estimate from parameter counts and
device rates (`--plan`); a step that would end past the budget, less a reserve for the core steps still to come, is
skipped and reported as such, and a step that overruns is killed at its deadline. The cross-precision agreement
tests are not run: with random weights they say nothing about image quality.

Without CUDA (or with --tiny) it is the CPU rehearsal: the same steps on tiny SD3.5-Medium/Large-shaped stand-ins
(forktools.standins shapes `medium` / `large`) at 64 and 32 px, same report format; CI runs it
(tests/tooling/test_gpu_check.py).
"""

import argparse
import gc
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

from ..lines import ROOT, Line, names, select
from ..queue import Queue


TEST = "tests/slow/test_sd35_precision.py"
MODELS = ("medium", "large")
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")
SHARED = (*TEXT_ENCODERS, "tokenizer", "tokenizer_2", "tokenizer_3", "scheduler", "vae")
WEIGHTS = (*TEXT_ENCODERS, "transformer", "vae")
# case: (dtype column, case column, slow-suite test, core). Run in this order: core cases first, fp32 ones last.
CASES = {
    "bf16": ("bf16", "load + encode + generate", "test_load_encode_generate[{model}-bf16]", True),
    "mixed": ("T5 fp32, rest bf16", "mixed load", "test_mixed_load_t5_fp32_rest_bf16[{model}]", True),
    "fp16": ("fp16", "load + encode + generate", "test_load_encode_generate[{model}-fp16]", False),
    "fp32": ("fp32", "load + encode + generate", "test_load_encode_generate[{model}-fp32]", False),
    "default": ("(none): fp32", "default load", "test_default_load_without_dtype[{model}]", False),
}
REPORT_ORDER = ("bf16", "fp16", "fp32", "default", "mixed")
# Bytes per parameter in memory, per component, for each case.
CASE_BYTES = {
    "bf16": dict.fromkeys(WEIGHTS, 2),
    "fp16": dict.fromkeys(WEIGHTS, 2),
    "fp32": dict.fromkeys(WEIGHTS, 4),
    "default": dict.fromkeys(WEIGHTS, 4),
    "mixed": dict(dict.fromkeys(WEIGHTS, 2), text_encoder_3=4),
}
STORED_BYTES = dict(text_encoder=2, text_encoder_2=2, text_encoder_3=2, transformer=2, vae=2)
STEPS = 4
TEXT_TOKENS = 77 + 256  # CLIP's 77 and T5's max_sequence_length 256, the joint text sequence of SD3
# On-paper device rates (README "GPU check" explains them). start: a fresh process (python, torch, transformers,
# diffusers, pytest collection, CUDA context); write: building and saving (safetensors, page cache then disk);
# load: from_pretrained from the page cache plus the move to the device, bytes of the loaded weights per second;
# flops: sustained matmul rate by bytes per parameter (fp32 matmuls run without TF32, torch's default);
# warmup: one-off cost of a generation's first step; case: per-case overhead (gc, cache emptying, asserts).
RATES = {
    "cuda": dict(start=15.0, write=1.0e9, init=50e9, load=2.0e9, flops={2: 350e12, 4: 45e12}, warmup=2.0, case=2.0),
    "cpu": dict(start=12.0, write=0.05e9, init=0.5e9, load=0.05e9, flops={2: 2e9, 4: 10e9}, warmup=0.2, case=1.0),
}
SIZES = {"cuda": (1024, 512), "cpu": (64, 32)}
DEFAULT_BUDGET = {"cuda": 360, "cpu": 900}
CLEANUP_RESERVE = {"cuda": 15.0, "cpu": 5.0}
GRACE = {"cuda": 20.0, "cpu": 30.0}  # how far a step may overrun its deadline before it is killed
STARTED = time.time()  # the budget counts from here: imports and parameter counting included
RANDOM_WEIGHTS = (
    "**Random weights**: the pipelines are SD3.5-shaped (real configs, real layout) but their weights are random, "
    "so this checks CUDA code paths, memory and speed, not image quality."
)


def log(message):
    print(f"[gpu-check {time.time() - STARTED:6.1f}s] {message}", flush=True)


def fmt(value):
    if value is None:
        return ""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_bytes(value):
    return f"{value / 1e9:.2f} GB" if value >= 1e8 else f"{value / 1e6:.2f} MB"


def fmt_count(value):
    return f"{value / 1e9:.2f} B" if value >= 1e8 else f"{value / 1e6:.2f} M"


def where(path):
    """A package folder for the report: relative to the repository when inside it."""
    path = os.path.abspath(path)
    if os.path.basename(path) == "__init__.py":
        path = os.path.dirname(os.path.dirname(path))
    relative = os.path.relpath(path, ROOT)
    return path if relative.startswith("..") else relative


def folder_bytes(path):
    total = 0
    for top, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(top, f)) for f in files)
    return total


# ------------------------------------------------------------------------------------------------ paths
def fork_version(fork_src):
    init = os.path.join(fork_src, "diffusers", "__init__.py")
    if not os.path.isfile(init):
        return None
    for line in open(init, encoding="utf-8"):
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return None


def pristine_src(fork_src):
    """The pristine upstream tree of the line `fork_src` holds (found by its version stamp, else the selected line)."""
    version = (fork_version(fork_src) or "").split("+")[0]
    for name in names():
        line = Line(name)
        if line.version == version:
            return str(Queue(line).upstream_dir / "src")
    return str(Queue(select(materialized_first=True)).upstream_dir / "src")


def pythonpath(*first):
    return os.pathsep.join(filter(None, [*first, str(ROOT), os.environ.get("PYTHONPATH")]))


# --------------------------------------------------------------------------------------------- on paper
def count_parameters(tiny):
    """{model: {component: stored elements}} from the configs, built on the meta device (no memory, no weights)."""
    from .. import standins

    counts = {}
    for model in MODELS:
        configs = standins.sd35_configs(model, full=not tiny)
        counts[model] = {}
        for name in WEIGHTS:
            if model != MODELS[0] and name != "transformer":
                counts[model][name] = counts[MODELS[0]][name]  # shared by Medium and Large
                continue
            counts[model][name] = standins.stored_numel(standins.build_sd35_component(name, configs[name], "meta"))
    return counts


class Estimate:
    """Seconds and bytes of every step, from parameter counts and the device's rates."""

    def __init__(self, counts, device, tiny):
        from .. import standins

        self.counts, self.rates, self.tiny = counts, RATES[device], tiny
        self.sizes = SIZES["cpu" if tiny else device]
        self.transformer = {}  # model: (layers, width)
        for model in MODELS:
            config = standins.sd35_configs(model, full=not tiny)["transformer"]
            self.transformer[model] = (
                config["num_layers"],
                config["num_attention_heads"] * config["attention_head_dim"],
            )

    def weights(self, model, case):
        return sum(self.counts[model][n] * CASE_BYTES[case][n] for n in WEIGHTS)

    def written(self, model, with_shared):
        built = WEIGHTS if with_shared else ("transformer",)
        return sum(self.counts[model][n] * STORED_BYTES[n] for n in built)

    def build(self, model, with_shared):
        built = WEIGHTS if with_shared else ("transformer",)
        fp32 = sum(self.counts[model][n] * 4 for n in built)
        r = self.rates
        return r["start"] + fp32 / r["init"] + self.written(model, with_shared) / r["write"]

    def step_flops(self, model, size):
        c = self.counts[model]
        latent = size // (2 if self.tiny else 8) // 2  # VAE scale factor, then the 2x2 patches
        tokens = latent * latent + TEXT_TOKENS
        layers, width = self.transformer[model]
        attention = 4 * layers * tokens * tokens * width  # QK^T and AV; MMDiT-X's extra attention is left out
        return 2 * (2 * c["transformer"] * tokens + attention)  # classifier-free guidance: a batch of 2

    def encode_flops(self, model):
        c = self.counts[model]
        return 2 * 2 * (c["text_encoder_3"] * 256 + (c["text_encoder"] + c["text_encoder_2"]) * 77)

    def generate(self, model, case, size):
        r = self.rates
        half = 4 if case in ("fp32", "default") else 2
        decode = 0.05 * self.counts[model]["vae"] * size * size  # ~1.2 TFLOP per 512x512 image at the real size
        flops = STEPS * self.step_flops(model, size) + self.encode_flops(model)
        return r["warmup"] + flops / r["flops"][half] + decode / r["flops"][4]

    def case(self, model, case):
        """(seconds of the test at the first size, seconds of each further size)."""
        r = self.rates
        first = r["case"] + self.weights(model, case) / r["load"] + self.encode_flops(model) / r["flops"][2]
        first += self.generate(model, case, self.sizes[0])
        extra = max(self.generate(model, case, size) for size in self.sizes[1:]) if self.sizes[1:] else 0
        return first, extra

    def peak_gib(self, model, case, size):
        """Weights plus a rough activation term (the VAE decoder's full-resolution fp32 feature maps dominate)."""
        vae_width = 8 if self.tiny else 128
        tokens = (size // (2 if self.tiny else 8) // 2) ** 2 + TEXT_TOKENS
        activations = 6 * size * size * vae_width * 4 + 40 * tokens * self.transformer[model][1] * 2
        return (self.weights(model, case) + activations) / 2**30


def plan_text(estimate, device):
    """The on-paper estimate of every step, as markdown; and its total in seconds."""
    r = estimate.rates
    sizes = " / ".join(map(str, estimate.sizes))
    lines = [
        f"On-paper estimate ({'tiny stand-ins, CPU' if estimate.tiny else 'full size, ' + device}), {STEPS} steps "
        f"per image at {sizes} px. Rates: process start {r['start']:.0f} s, write {r['write'] / 1e9:.2f} GB/s, "
        f"load {r['load'] / 1e9:.2f} GB/s, matmul {r['flops'][2] / 1e12:g} TFLOP/s in 2-byte dtypes and "
        f"{r['flops'][4] / 1e12:g} TFLOP/s in fp32, {r['warmup']:g} s of first-step warm-up per image.",
        "",
        f"| step | bytes | load s | s/step ({sizes}) | generate s ({sizes}) | estimate s | peak GPU GiB ({sizes}) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    total = 0.0
    for index, model in enumerate(MODELS):
        with_shared = index == 0
        seconds = estimate.build(model, with_shared)
        total += seconds
        what = "text encoders, VAE, transformer" if with_shared else "transformer; the rest is shared"
        largest = max(estimate.counts[model][n] for n in (WEIGHTS if with_shared else ("transformer",))) * 4
        lines.append(
            f"| build {model} ({what}) | {fmt_bytes(estimate.written(model, with_shared))} written | | | "
            f"| {seconds:.0f} | {largest / 2**30:.1f} (largest component in fp32, then cast) |"
        )
        for side, cases in (("upstream", ["bf16"]), ("fork", list(CASES))):
            total += r["start"]
            lines.append(f"| {model} {side}: process start | | | | | {r['start']:.0f} | |")
            for case in cases:
                first, extra = estimate.case(model, case)
                total += first + extra
                load = estimate.weights(model, case) / r["load"]
                generate = " / ".join(f"{estimate.generate(model, case, size):.1f}" for size in estimate.sizes)
                rate = r["flops"][4 if case in ("fp32", "default") else 2]
                steps = " / ".join(f"{estimate.step_flops(model, size) / rate:.3f}" for size in estimate.sizes)
                peaks = " / ".join(f"{estimate.peak_gib(model, case, size):.1f}" for size in estimate.sizes)
                lines.append(
                    f"| {model} {side} {CASES[case][0]} ({CASES[case][1]}) | "
                    f"{fmt_bytes(estimate.weights(model, case))} loaded | {load:.1f} | {steps} | {generate} "
                    f"| {first + extra:.0f} | {peaks} |"
                )
    lines += ["", f"Total: about {total:.0f} s, plus cleanup."]
    return "\n".join(lines), total


# ------------------------------------------------------------------------------------------------ workers
def build_worker(work, model, tiny, device, with_shared):
    """Build `model` on `device`, one component at a time, and save it in the SD3.5 layout under `work`."""
    import torch

    import diffusers

    from .. import standins

    configs = standins.sd35_configs(model, full=not tiny)
    shared, folder = os.path.join(work, "sd35-shared"), os.path.join(work, f"sd35-{model}")
    os.makedirs(folder, exist_ok=True)
    stats = {}
    for name in [*TEXT_ENCODERS, "vae", "transformer"] if with_shared else ["transformer"]:
        start = time.perf_counter()
        module = standins.build_sd35_component(name, configs[name], device=device)
        module.to(standins.SD35_STORED[name])
        if device == "cuda":
            torch.cuda.synchronize()
        built = time.perf_counter() - start
        target = os.path.join(folder if name == "transformer" else shared, name)
        start = time.perf_counter()
        if name in TEXT_ENCODERS:
            module.save_pretrained(target, max_shard_size="5GB")
            with open(os.path.join(target, "config.json")) as f:
                config = json.load(f)
            config.pop("dtype", None)
            config["torch_dtype"] = "float16"  # as the real repositories' configs say (written by transformers 4)
            with open(os.path.join(target, "config.json"), "w") as f:
                json.dump(config, f, indent=2, sort_keys=True)
        else:
            module.save_pretrained(target, safe_serialization=True, max_shard_size="10GB")
        stats[name] = dict(
            params=standins.stored_numel(module),
            bytes=folder_bytes(target),
            build_s=built,
            write_s=time.perf_counter() - start,
        )
        log(
            f"built {model} {name}: {fmt_count(stats[name]['params'])} params, {fmt_bytes(stats[name]['bytes'])} "
            f"written, {built:.1f} s to build, {stats[name]['write_s']:.1f} s to save"
        )
        del module
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
    classes_file = os.path.join(shared, "tokenizer-classes.json")
    if with_shared:
        with open(classes_file, "w") as f:
            json.dump(standins.save_sd35_tokenizers(shared), f)
    with open(classes_file) as f:
        tokenizers = json.load(f)
    index = {
        "_class_name": "StableDiffusion3Pipeline",
        "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "text_encoder_3": ["transformers", "T5EncoderModel"],
        **{name: ["transformers", cls] for name, cls in tokenizers.items()},
        "transformer": ["diffusers", "SD3Transformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    with open(os.path.join(folder, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    for name in SHARED:
        link = os.path.join(folder, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join("..", "sd35-shared", name), link)
    return {"stats": stats, "device_name": device_name(device), "diffusers": diffusers.__version__}


def run_process(cmd, env, timeout, log_path):
    """Run `cmd` in its own process group; kill the group after `timeout` s. (returncode or None, output tail)."""
    with open(log_path, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            returncode = proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            returncode = None
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    with open(log_path, errors="replace") as f:
        tail = f.read()[-3000:]
    return returncode, tail


# ------------------------------------------------------------------------------------------------ the check
class Check:
    def __init__(self, args, device, tiny, counts):
        self.args, self.device, self.tiny = args, device, tiny
        self.models = [m for m in MODELS if m in (args.models or MODELS)]
        self.estimate = Estimate(counts, device, tiny)
        self.rates = self.estimate.rates
        self.sizes = self.estimate.sizes
        self.budget = args.budget or DEFAULT_BUDGET["cpu" if tiny else device]
        self.start = STARTED
        self.end = self.start + self.budget - CLEANUP_RESERVE[device]
        self.out = os.path.abspath(
            args.out or os.path.join(ROOT, "out", "gpu-check-tiny.md" if tiny else "gpu-check.md")
        )
        self.work = os.path.abspath(
            args.work or os.path.join(ROOT, "build", "gpu-check-tiny" if tiny else "gpu-check")
        )
        self.fork_src = os.path.abspath(args.fork_src or os.path.join(ROOT, "src"))
        self.upstream_src = os.path.abspath(args.upstream_src or pristine_src(self.fork_src))
        self.steps = []  # (step, estimate s, took s, result)
        self.versions = {}
        self.device_name = None
        self.rows = {}
        for model in self.models:
            for side, cases in (("fork", REPORT_ORDER), ("upstream", ("bf16",))):
                for case in cases:
                    for size in self.sizes:
                        self.rows[model, side, case, size] = {"result": "not run"}
        self.dead = set()  # models whose build did not happen

    # -- budget
    def items(self):
        """Every step in order: (model, kind, case, seconds, core); kind is "build", "upstream" or "fork"."""
        items = []
        for index, model in enumerate(self.models):
            with_shared = index == 0 or self.models[0] in self.dead
            items.append((model, "build", None, self.estimate.build(model, with_shared), True))
            for side, cases in (("upstream", ["bf16"]), ("fork", list(CASES))):
                for case in cases:
                    first, extra = self.estimate.case(model, case)
                    items.append((model, side, case, first + extra, CASES[case][3]))
        return items

    def reserve_after(self, model, kind, case):
        """
        Seconds to keep for the core steps after this one (process starts included): a core step keeps time for the
        rest of its model's core, an optional step for every core step still to come.
        """
        items = self.items()
        index = next(i for i, it in enumerate(items) if it[:3] == (model, kind, case))
        core = items[index][4]
        later = [it for it in items[index + 1 :] if it[4] and it[0] not in self.dead and (not core or it[0] == model)]
        groups = {(it[0], it[1]) for it in later if it[1] != "build"} - {(model, kind)}
        return sum(it[3] for it in later) + len(groups) * self.rates["start"]

    def deadline(self, model, kind, case):
        return self.end - self.reserve_after(model, kind, case)

    def left(self):
        return self.end - time.time()

    # -- steps
    def build(self, model, with_shared):
        estimate = self.estimate.build(model, with_shared)
        deadline = self.deadline(model, "build", None)
        step = f"build {model}" + (" (text encoders, VAE, transformer)" if with_shared else " (transformer)")
        if time.time() + estimate > deadline:
            need = estimate + self.reserve_after(model, "build", None)
            reason = f"budget: {model} (build and core cases) needs ~{need:.0f} s, {max(self.left(), 0):.0f} s left"
            return self.skip_build(model, step, estimate, reason)
        need = self.estimate.written(model, with_shared)
        os.makedirs(self.work, exist_ok=True)
        free = shutil.disk_usage(self.work).free
        if need * 1.05 + 1e9 > free:
            reason = f"disk: needs {need / 1e9:.1f} GB, {free / 1e9:.1f} GB free"
            return self.skip_build(model, step, estimate, reason)
        log(f"{step}: estimate {estimate:.0f} s")
        env = dict(os.environ, PYTHONPATH=pythonpath(self.fork_src))
        cmd = [
            sys.executable,
            "-m",
            "forktools.measure.gpu_check",
            "--build-worker",
            model,
            "--work",
            self.work,
            "--device",
            "cpu" if self.tiny else self.device,
        ]
        cmd += ["--tiny"] if self.tiny else []
        cmd += ["--shared"] if with_shared else []
        started = time.time()
        returncode, tail = run_process(
            cmd, env, deadline + GRACE[self.device] - started, os.path.join(self.work, f"build-{model}.log")
        )
        took = time.time() - started
        if returncode != 0:
            why = "killed at its deadline" if returncode is None else f"exit {returncode}: {last_line(tail)}"
            print(tail, flush=True)
            return self.skip_build(model, step, estimate, f"build failed: {why}", took, skipped=False)
        result = json.loads(tail.strip().splitlines()[-1])
        self.device_name = result["device_name"]
        written = sum(s["bytes"] for s in result["stats"].values())
        write_s = sum(s["write_s"] for s in result["stats"].values())
        rate = written / max(write_s, 1e-9) / 1e9
        self.steps.append(
            (step, estimate, took, f"done: {fmt_bytes(written)} written in {write_s:.1f} s ({rate:.2f} GB/s)")
        )
        return True

    def skip_build(self, model, step, estimate, reason, took=None, skipped=True):
        log(f"{step}: {reason}")
        self.dead.add(model)
        self.steps.append((step, estimate, took, f"skipped: {reason}" if skipped else reason))
        for key, row in self.rows.items():
            if key[0] == model:
                row["result"] = f"skipped: {reason}" if skipped else f"not run: {reason}"
        return False

    def suite(self, model, side):
        """One pytest process: the slow suite's cases of `model` on one side (fork or upstream)."""
        cases = ["bf16"] if side == "upstream" else list(CASES)
        step = f"{model} {side}: " + ", ".join(cases)
        if model in self.dead:
            return
        if side == "upstream" and not os.path.isfile(os.path.join(self.upstream_src, "diffusers", "__init__.py")):
            reason = f"no pristine upstream tree in {os.path.relpath(self.upstream_src, ROOT)} (`make vendor`)"
            self.steps.append((step, None, None, f"not run: {reason}"))
            for size in self.sizes:
                self.rows[model, side, "bf16", size]["result"] = f"not run: {reason}"
            return
        nodeids, plan, estimate = {}, {}, self.rates["start"]
        for case in cases:
            nodeid = f"{TEST}::{CASES[case][2].format(model=model)}"
            first, extra = self.estimate.case(model, case)
            nodeids[nodeid] = case
            plan[nodeid] = dict(
                deadline=self.deadline(model, side, case),
                estimate=first,
                extra_estimate=extra,
                extra_sizes=list(self.sizes[1:]),
            )
            estimate += first + extra
        first_nodeid = next(iter(nodeids))
        if time.time() + self.rates["start"] + plan[first_nodeid]["estimate"] > plan[first_nodeid]["deadline"]:
            left = max(plan[first_nodeid]["deadline"] - time.time(), 0)
            reason = f"budget: needs ~{self.rates['start'] + plan[first_nodeid]['estimate']:.0f} s, {left:.0f} s left"
            log(f"{step}: skipped, {reason}")
            self.steps.append((step, estimate, None, f"skipped: {reason}"))
            for case in cases:
                for size in self.sizes:
                    self.rows[model, side, case, size]["result"] = f"skipped: {reason}"
            return
        log(f"{step}: estimate {estimate:.0f} s")
        probe = os.path.join(self.work, f"probe-{model}-{side}.jsonl")
        if os.path.exists(probe):
            os.remove(probe)
        folders = {m: os.path.join(self.work, f"sd35-{m}") for m in MODELS}
        for folder in folders.values():
            os.makedirs(folder, exist_ok=True)  # the suite runs on CPU only when every location is a local folder
        env = {k: v for k, v in os.environ.items() if k not in ("SD35_LARGE_TURBO", "SD35_SLOW_NO_SKIP")}
        env.update(
            RUN_SLOW="1",
            SD35_MEDIUM=folders["medium"],
            SD35_LARGE=folders["large"],
            SD35_STEPS=str(STEPS),
            SD35_SIZE=str(self.sizes[0]),
            SD35_SLOW_REPORT=os.path.join(self.work, f"slow-report-{model}-{side}.md"),
            GPU_CHECK_PROBE=probe,
            GPU_CHECK_PLAN=json.dumps(plan),
            PYTHONPATH=pythonpath(self.fork_src if side == "fork" else self.upstream_src),
        )
        if self.tiny:
            env["SD35_SLOW_ALLOW_CPU"] = "1"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            *nodeids,
            "-p",
            "forktools.measure.gpu_probe",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            "--no-header",
        ]
        hard = max(p["deadline"] for p in plan.values()) + GRACE[self.device]
        started = time.time()
        returncode, tail = run_process(
            cmd, env, min(hard, self.end) - started, os.path.join(self.work, f"suite-{model}-{side}.log")
        )
        took = time.time() - started
        records = []
        if os.path.exists(probe):
            with open(probe) as f:
                records = [json.loads(line) for line in f if line.strip()]
        for record in records:
            if record["kind"] == "versions":
                self.versions[side] = (record["diffusers"], record["diffusers_file"])
                continue
            case = nodeids.get(record["nodeid"])
            if case is None:
                continue
            row = self.rows[model, side, case, record.get("size") or self.sizes[0]]
            row.update({k: v for k, v in record.items() if k not in ("kind", "nodeid", "size")})
        unfinished = "not finished: " + (
            "killed at the budget deadline"
            if returncode is None
            else f"the pytest process exited with {returncode}: {error_line(tail)}"
        )
        for case in cases:
            first = self.rows[model, side, case, self.sizes[0]]
            for size in self.sizes:
                row = self.rows[model, side, case, size]
                if row["result"] == "not run":
                    row["result"] = first["result"] if first["result"].startswith("skipped") else unfinished
        if returncode not in (0, 1) or not records:
            print(tail, flush=True)
        outcomes = [self.rows[model, side, c, s]["result"].split(":")[0] for c in cases for s in self.sizes]
        summary = ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes)))
        log(f"{step}: {summary} in {took:.0f} s")
        self.steps.append((step, estimate, took, summary))

    def run(self):
        log(
            f"budget {self.budget:.0f} s on {self.device}{' (tiny stand-ins)' if self.tiny else ''}; work "
            f"folder {self.work}; fork {self.fork_src}; upstream {self.upstream_src}"
        )
        try:
            for index, model in enumerate(self.models):
                with_shared = index == 0 or self.models[0] in self.dead
                if self.build(model, with_shared):
                    self.write()
                    self.suite(model, "upstream")
                    self.write()
                    self.suite(model, "fork")
                if not self.args.keep:  # never two transformers on disk: the next model reuses the rest
                    shutil.rmtree(os.path.join(self.work, f"sd35-{model}"), ignore_errors=True)
                self.write()
        finally:
            if not self.args.keep:
                shutil.rmtree(self.work, ignore_errors=True)
        return self.write(final=True)

    def write(self, final=False):
        """Write the report (after every step, so a run cut short still leaves one); return its text."""
        text = self.report(final)
        os.makedirs(os.path.dirname(self.out) or ".", exist_ok=True)
        with open(self.out, "w") as f:
            f.write(text)
        return text

    # -- report
    def ratios(self, model, size):
        fork, up = self.rows[model, "fork", "bf16", size], self.rows[model, "upstream", "bf16", size]
        if fork["result"] != "passed" or up["result"] != "passed":
            return ["", "", ""]
        out = []
        for key in ("load_s", "encode_s", "step_s"):
            out.append(fmt(fork[key] / up[key]) if fork.get(key) and up.get(key) else "")
        return out

    def report(self, final=True):
        import torch
        import transformers

        counts = self.estimate.counts
        used = time.time() - self.start
        what = "tiny SD3.5-shaped stand-ins (CPU rehearsal)" if self.tiny else "full-size SD3.5-shaped pipelines"
        fork = self.versions.get("fork", (fork_version(self.fork_src), self.fork_src))
        upstream = self.versions.get("upstream", ("(not run)", self.upstream_src))
        models = "; ".join(
            f"{m}: transformer {fmt_count(counts[m]['transformer'])}, {fmt_count(sum(counts[m].values()))} in all"
            for m in self.models
        )
        lines = [
            f"### GPU check: {what}",
            "",
            RANDOM_WEIGHTS,
            "",
            f"- {time.strftime('%Y-%m-%d %H:%M %Z')}, device: {self.device_name or device_name(self.device)}; python "
            f"{platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}",
            f"- fork: diffusers {fork[0]} from `{where(fork[1])}`; upstream: diffusers {upstream[0]} from "
            f"`{where(upstream[1])}` (each first on PYTHONPATH, nothing installed)",
            f"- parameters ({models}), built in this run in the real repositories' layout: text encoders fp16, "
            "transformer bf16, VAE fp16, the real scheduler config, offline tokenizers",
            f"- {STEPS} steps per image at {' and '.join(f'{s}x{s}' for s in self.sizes)}; budget {self.budget:.0f} s: "
            f"used {used:.0f} s, left {self.budget - used:.0f} s" + ("" if final else " (run in progress)"),
        ]
        if self.tiny:
            lines.append(
                "- CPU rehearsal: it proves every step runs; its timings (and ratios) on a shared CPU are noise"
            )
        lines += [
            "",
            "| model | size | dtype | case | result | load s | encode s | s/step | peak GPU GiB | offload "
            "| fork/upstream load | encode | step | note |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for model in self.models:
            for side, cases in (("fork", REPORT_ORDER), ("upstream", ("bf16",))):
                for case in cases:
                    for size in self.sizes:
                        row = self.rows[model, side, case, size]
                        ratios = self.ratios(model, size) if side == "fork" and case == "bf16" else ["", "", ""]
                        peak = fmt(row.get("peak_gib")) if row.get("peak_gib") is not None else ""
                        if not peak and "load_s" in row:
                            peak = "n/a (CPU)"
                        offload = "" if "load_s" not in row else ("yes" if row.get("offload") else "no")
                        note = f"first step {fmt(row['first_step_s'])} s" if row.get("first_step_s") else ""
                        label = CASES[case][1] + (" (pristine upstream)" if side == "upstream" else "")
                        result = row["result"].replace("|", "/")
                        lines.append(
                            f"| {model} | {size} | {CASES[case][0]} | {label} | {result} | {fmt(row.get('load_s'))} "
                            f"| {fmt(row.get('encode_s'))} | {fmt(row.get('step_s'))} | {peak} | {offload} "
                            f"| {' | '.join(ratios)} | {note} |"
                        )
        lines += [
            "",
            "Load s: `from_pretrained` plus the move to the device (or model CPU offload), once per case: the test "
            f"runs at {self.sizes[0]} px, then the suite's `generate()` at {', '.join(map(str, self.sizes[1:]))} px "
            "on the same pipeline. Encode s: the fastest `encode_prompt` call of the row. s/step: the median "
            "transformer call after the first (classifier-free guidance: one batch of 2 per step); the first, which "
            "pays one-off costs, is in the note. Peak GPU: `torch.cuda.max_memory_allocated`, reset per row. "
            "fork/upstream: the fork's uniform bf16 case over pristine upstream's, one fresh process each on the same "
            "files (above 1: the fork is slower). Offload: whether the suite's `load()` chose model CPU offload. The "
            "cross-precision agreement tests are not run: with random weights they say nothing.",
            "",
            "| step | estimate s | took s | result |",
            "| --- | --- | --- | --- |",
        ]
        for step, estimate, took, result in self.steps:
            estimate = "" if estimate is None else f"{estimate:.0f}"
            lines.append(f"| {step} | {estimate} | {fmt(took)} | {result} |")
        return "\n".join(lines) + "\n"

    def failed(self):
        return [k for k, row in self.rows.items() if k[1] == "fork" and row["result"].startswith(("failed", "error"))]


def error_line(text):
    """The first pytest `E   ...` line of a log, else its last line."""
    for line in text.splitlines():
        if line.startswith("E "):
            return line[1:].strip()[:200]
    return last_line(text)


def last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def device_name(device):
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores)"


def cuda_available():
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def device_command():
    """A command line that runs this check on a remote GPU machine from a copy of this tree, and what it carries."""
    fork = os.path.join(ROOT, "src", "diffusers")
    upstream = os.path.join(pristine_src(os.path.join(ROOT, "src")), "diffusers")
    carry = [os.path.relpath(p, ROOT) for p in (fork, upstream)]
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True).stdout
    tracked_bytes = sum(
        os.path.getsize(os.path.join(ROOT, p))
        for p in tracked.split("\0")
        if p and os.path.isfile(os.path.join(ROOT, p))
    )
    sizes = {p: folder_bytes(os.path.join(ROOT, p)) for p in carry}
    command = (
        "set -o pipefail; PYTHONUNBUFFERED=1 python3 -m forktools.measure.gpu_check --out $OUT/gpu-check.md "
        "2>&1 | tee $OUT/gpu-check.log"
    )
    print(f"run(command={command!r}, carry={carry!r}, timeout_s=420)")
    for path, size in sizes.items():
        print(f"  carries {path}: {size / 2**20:.1f} MiB" + ("" if size else " (MISSING: run `make vendor`)"))
    total = sum(sizes.values()) + tracked_bytes
    print(
        f"  tracked files: {tracked_bytes / 2**20:.1f} MiB; in all about {total / 2**20:.1f} MiB of the 64 MiB "
        "allowed (plus untracked, not ignored files)"
    )
    return 0 if all(sizes.values()) and total < 64 * 2**20 else 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="the CPU rehearsal on tiny stand-ins")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds for the whole check (default: "
        f"{DEFAULT_BUDGET['cuda']} on a GPU, {DEFAULT_BUDGET['cpu']} for the rehearsal)",
    )
    parser.add_argument("--out", default=None, help="report (default: out/gpu-check.md, out/gpu-check-tiny.md)")
    parser.add_argument("--keep", action="store_true", help="keep the built pipelines (default: delete them)")
    parser.add_argument("--work", default=None, help="where to build (default: build/gpu-check[-tiny])")
    parser.add_argument("--fork-src", default=None, help="folder holding the fork's diffusers (default: src)")
    parser.add_argument("--upstream-src", default=None, help="folder holding pristine diffusers")
    parser.add_argument(
        "--models", type=lambda text: text.split(","), default=None, help="medium,large (default: both, in order)"
    )
    parser.add_argument("--plan", action="store_true", help="print the on-paper estimate and exit")
    parser.add_argument("--device-command", action="store_true", help="print a remote-run command line and exit")
    parser.add_argument("--build-worker", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--device", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--shared", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.models and not set(args.models) <= set(MODELS):
        parser.error(f"--models: choose from {', '.join(MODELS)}")

    if args.build_worker:
        result = build_worker(args.work, args.build_worker, args.tiny, args.device, args.shared)
        print(json.dumps(result))
        return 0
    if args.device_command:
        return device_command()

    fork_src = os.path.abspath(args.fork_src or os.path.join(ROOT, "src"))
    sys.path.insert(0, fork_src)  # parameter counting imports diffusers: the fork, installed or not
    if args.plan:  # on paper: needs no GPU
        device = "cpu" if args.tiny else "cuda"
        print(plan_text(Estimate(count_parameters(args.tiny), device, args.tiny), device)[0])
        return 0
    device = "cuda" if not args.tiny and cuda_available() else "cpu"
    tiny = args.tiny or device == "cpu"
    counts = count_parameters(tiny)
    if not args.tiny and device == "cpu":
        log("no CUDA device: running the CPU rehearsal on tiny stand-ins (--tiny)")
    check = Check(args, device, tiny, counts)
    print(check.run(), flush=True)
    log(f"report written to {check.out}")
    failed = check.failed()
    if failed:
        log(f"{len(failed)} fork row(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
