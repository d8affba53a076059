"""`make gpu-check`: the slow SD3.5 suite on full-size SD3.5 Medium- and Large-shaped pipelines with random weights,
built on the spot on a CUDA GPU, on pristine upstream and on the fork, within a total time budget.

    python -m forktools.measure.gpu_check [--tiny] [--budget SECONDS] [--out out/gpu-check.md] [--work DIR]

Per model, Medium then Large, three steps, each a process killed at the model's deadline (Medium's: MEDIUM_SHARE of the
budget, Large's: its end): build the model at the real configs (`forktools.standins`, docs/sd35-checkpoints.md) in the
real repositories' layout; run `tests/slow` on pristine upstream in bf16, then on the fork (`src/`) in every case, the
core cases first, each tree first on PYTHONPATH (the suite itself skips the cases it does not start by the deadline);
delete the model. The report: the steps, then the slow suite's report of each run. Without CUDA (or with --tiny) the
same steps run on CPU on tiny stand-ins.
"""

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

from ..lines import ROOT, Line, materialized


TEST = "tests/slow/test_sd35_precision.py"
MODELS = ("medium", "large")
CLIP, T5 = (["transformers", "CLIPTextModelWithProjection"], ["transformers", "T5EncoderModel"])
INDEX = dict(  # model_index.json, with the tokenizers' classes
    _class_name="StableDiffusion3Pipeline", feature_extractor=[None, None], image_encoder=[None, None],
    text_encoder=CLIP, text_encoder_2=CLIP, text_encoder_3=T5, transformer=["diffusers", "SD3Transformer2DModel"],
    vae=["diffusers", "AutoencoderKL"], scheduler=["diffusers", "FlowMatchEulerDiscreteScheduler"],
)  # fmt: skip
CASES = {  # the slow suite's cases of each side, in the order they run: the core cases first
    "upstream": ["test_load_encode_generate[{model}-bf16]"],
    "fork": [
        "test_load_encode_generate[{model}-bf16]",
        "test_mixed_load_t5_fp32_rest_bf16[{model}]",
        "test_load_encode_generate[{model}-fp16]",
        "test_load_encode_generate[{model}-fp32]",
        "test_default_load_without_dtype[{model}]",
    ],
}
BUDGET = 1200  # seconds, the default of --budget
MEDIUM_SHARE = 0.4  # of the budget; Large's transformer is three times Medium's
NOT_REACHED = "not run: the budget was spent before this step"
NO_REPORT = "(no report: the run ended before it collected its cases, none of which ran)"


def run_process(cmd, env, deadline, log_path):
    """Run `cmd`, killed at `deadline` (epoch s), its output in `log_path`: (exit code, None if killed; output tail)."""
    with open(log_path, "w") as out:
        try:
            timeout = max(deadline - time.time(), 0.1)
            returncode = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=out, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            returncode = None
    with open(log_path, errors="replace") as f:
        return returncode, f.read()[-3000:]


def build(folder, model, tiny):
    """The build step's process: `model` one component at a time, saved in the SD3.5 layout in `folder`."""
    import torch

    import diffusers

    from .. import standins

    device = "cuda" if torch.cuda.is_available() and not tiny else "cpu"
    configs, params = standins.sd35_configs(model, full=not tiny), 0
    for name in ["text_encoder", "text_encoder_2", "text_encoder_3", "vae", "transformer"]:
        module = standins.build_sd35_component(name, configs[name], device=device).to(standins.SD35_STORED[name])
        params += standins.stored_numel(module)
        module.save_pretrained(os.path.join(folder, name), max_shard_size="10GB")
        del module
        torch.cuda.empty_cache()
    tokenizers = {name: ["transformers", cls] for name, cls in standins.save_sd35_tokenizers(folder).items()}
    with open(os.path.join(folder, "model_index.json"), "w") as f:  # the scheduler config is written with them
        json.dump(dict(INDEX, **tokenizers, _diffusers_version=diffusers.__version__), f, indent=2)
    print(f"done: {params:,} parameters on {device}")


def last_line(text):
    """The first pytest `E   ...` line of a log, else its last line."""
    lines = [line for line in text.splitlines() if line.strip()]
    return next((line[1:].strip() for line in lines if line.startswith("E ")), lines[-1] if lines else "")[:200]


def check(tiny, budget, work, out):
    """Run the steps, writing the report after each; returns (report, whether a case failed on the fork)."""
    started = time.time()
    deadlines = {"medium": started + MEDIUM_SHARE * budget, "large": started + budget}
    held = materialized() or {"line": None}  # the pristine tree of the line src/diffusers holds
    src = {"fork": os.path.join(ROOT, "src"), "upstream": str(Line(held["line"]).upstream_dir / "src")}
    if not all(os.path.isfile(os.path.join(tree, "diffusers", "__init__.py")) for tree in src.values()):
        sys.exit("gpu-check: no fork or pristine diffusers tree: run `make vendor`")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SD35_")}
    env.update(RUN_SLOW="1", SD35_STEPS="4", SD35_SIZE="64" if tiny else "1024")
    env.update({f"SD35_{m.upper()}": os.path.join(work, f"sd35-{m}") for m in MODELS})
    if tiny:
        env.update(SD35_SLOW_ALLOW_CPU="1", CUDA_VISIBLE_DEVICES="")
    steps, reports, failed = [], [], False

    def write(device):
        what = "tiny SD3.5-shaped stand-ins (CPU rehearsal)" if tiny else "full-size SD3.5-shaped pipelines"
        lines = [
            f"### GPU check: {what}",
            "",
            "**Random weights**: the pipelines are SD3.5-shaped (real configs, real layout) but their weights are "
            "random, so this checks CUDA code paths, memory and speed, not image quality.",
            "",
            f"- {time.strftime('%Y-%m-%d %H:%M %Z')}, device: {device}; python {platform.python_version()}; fork "
            f"`{os.path.relpath(src['fork'], ROOT)}`, upstream `{os.path.relpath(src['upstream'], ROOT)}` (each "
            "first on PYTHONPATH)",
            f"- 4 steps at {env['SD35_SIZE']}x{env['SD35_SIZE']}; budget {budget:.0f} s, used "
            f"{time.time() - started:.0f} s",
            "",
            "| step | took s | result |",
            "| --- | --- | --- |",
        ]
        lines += [f"| {name} | {'' if took is None else f'{took:.1f}'} | {result} |" for name, took, result in steps]
        text = "\n\n".join(["\n".join(lines), *reports]) + "\n"
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(text)
        return text

    shutil.rmtree(work, ignore_errors=True)
    for folder in (env["SD35_MEDIUM"], env["SD35_LARGE"]):  # the CPU is allowed only when every location is a folder
        os.makedirs(folder)
    try:
        for model in MODELS:
            folder, built = env[f"SD35_{model.upper()}"], False
            call = f"from forktools.measure.gpu_check import build; build({folder!r}, {model!r}, {tiny})"
            runs = [("build", [sys.executable, "-c", call], "fork")]
            for side in ("upstream", "fork"):
                nodes = [f"{TEST}::{case.format(model=model)}" for case in CASES[side]]
                runs.append((side, [sys.executable, "-m", "pytest", *nodes, "-q", "-p", "no:cacheprovider"], side))
            for what, cmd, side in runs:
                name, start = f"{model} {what}", time.time()
                if start >= deadlines[model] or (what != "build" and not built):
                    steps.append([name, None, NOT_REACHED if start >= deadlines[model] else "not run: no build"])
                    continue
                print(f"[gpu-check {start - started:6.1f}s] {name}", flush=True)
                report = os.path.join(work, f"{model}-{what}.md")
                path = os.pathsep.join(filter(None, [src[side], str(ROOT), os.environ.get("PYTHONPATH")]))
                run_env = dict(env, PYTHONPATH=path, SD35_SLOW_REPORT=report, SD35_DEADLINE=str(deadlines[model]))
                code, tail = run_process(cmd, run_env, deadlines[model], os.path.join(work, f"{model}-{what}.log"))
                result = "killed at the deadline" if code is None else f"exit status {code}"
                if what == "build":
                    built = code == 0
                    result = tail.strip().splitlines()[-1] if built else f"failed, {result}: {last_line(tail)}"
                else:  # the suite's report lists each case, those a kill stopped as "not run"
                    text = open(report).read().strip() if os.path.isfile(report) else NO_REPORT
                    failed |= side == "fork" and (
                        code not in (0, 1, None) or bool(re.search(r"\| (failed|error)", text))
                    )
                    if (code not in (0, 1, None) or text == NO_REPORT) and last_line(tail):
                        result += f": {last_line(tail)}"
                    reports.append(f"#### {model}, {side}\n\n{text}")
                steps.append([name, time.time() - start, result.replace("|", "/")])
                write("CPU" if tiny else "CUDA")
            shutil.rmtree(folder)  # one model on disk at a time; the empty folder stays: the CPU needs it
            os.makedirs(folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    import torch

    return write("CPU" if tiny else torch.cuda.get_device_name(0)), failed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="the CPU rehearsal on tiny stand-ins")
    parser.add_argument("--budget", type=float, default=BUDGET, help=f"seconds in all (default {BUDGET})")
    parser.add_argument("--out", help="the report (default: out/gpu-check.md, with --tiny out/gpu-check-tiny.md)")
    parser.add_argument("--work", help="where to build, deleted at the end (default: build/gpu-check[-tiny])")
    args = parser.parse_args(argv)

    import torch

    tiny = args.tiny or not torch.cuda.is_available()
    suffix = "-tiny" if tiny else ""
    out = os.path.abspath(args.out or os.path.join(ROOT, "out", f"gpu-check{suffix}.md"))
    work = os.path.abspath(args.work or os.path.join(ROOT, "build", f"gpu-check{suffix}"))
    report, failed = check(tiny, args.budget, work, out)
    print(report, flush=True)
    print(f"report written to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
