"""`make gpu-check`: the slow SD3.5 suite on full-size SD3.5 Medium- and Large-shaped pipelines with random weights,
built on the spot on a CUDA GPU, on the fork and on pristine upstream, within a total time budget.

    python -m forktools.measure.gpu_check [--tiny] [--budget SECONDS] [--out out/gpu-check.md]

Each step is a process killed at its deadline, with the fork (`src/diffusers`) or the release it patches
(`build/upstream/diffusers-<version>/src`) first on its PYTHONPATH. Per model, Medium then Large: build it at the real
configs (`forktools.standins`, docs/sd35-checkpoints.md) in the real repositories' layout; run `tests/slow` on pristine
upstream in bf16, then on the fork (the core cases first), timed by the `forktools.measure.gpu_probe` plugin; delete
it. Medium's steps end by MEDIUM_SHARE of the budget, Large's by its end; what is not reached is reported as not run.
Without CUDA (or with --tiny) the same steps run on CPU on tiny stand-ins.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

from .. import outcomes
from ..lines import ROOT, Line, materialized


TEST = "tests/slow/test_sd35_precision.py"
MODELS = ("medium", "large")
CLIP, T5 = ["transformers", "CLIPTextModelWithProjection"], ["transformers", "T5EncoderModel"]
INDEX = dict(  # model_index.json, with the tokenizers' classes
    _class_name="StableDiffusion3Pipeline", feature_extractor=[None, None], image_encoder=[None, None],
    text_encoder=CLIP, text_encoder_2=CLIP, text_encoder_3=T5, transformer=["diffusers", "SD3Transformer2DModel"],
    vae=["diffusers", "AutoencoderKL"], scheduler=["diffusers", "FlowMatchEulerDiscreteScheduler"],
)  # fmt: skip
CASES = {  # dtype: slow-suite test, in the order they run: the core cases first
    "bf16": "test_load_encode_generate[{model}-bf16]",
    "T5 fp32, rest bf16": "test_mixed_load_t5_fp32_rest_bf16[{model}]",
    "fp16": "test_load_encode_generate[{model}-fp16]",
    "fp32": "test_load_encode_generate[{model}-fp32]",
    "none (fp32)": "test_default_load_without_dtype[{model}]",
}
SIDES = {"upstream": ["bf16"], "fork": list(CASES)}  # upstream: the reference of the fork's bf16 case
BUDGET = 1200  # seconds, the default of --budget
SIZE = {"cuda": 1024, "cpu": 64}
MEDIUM_SHARE = 0.4  # of the budget; Large's transformer is three times Medium's
STEPS = 4
STARTED = time.time()  # the budget counts from here
NOT_REACHED = "not run: the budget was spent before this step"


def log(message):
    print(f"[gpu-check {time.time() - STARTED:6.1f}s] {message}", flush=True)


def fmt(value):
    return "" if value is None else f"{value:.4g}"


def run_process(cmd, env, deadline, log_path):
    """Run `cmd`, killed at `deadline` (epoch s), its output in `log_path`: (exit code, None if killed; output tail)."""
    with open(log_path, "w") as out:
        timeout = max(deadline - time.time(), 0.1)
        try:
            returncode = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=out, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            returncode = None
    with open(log_path, errors="replace") as f:
        return returncode, f.read()[-3000:]


def last_error(text):
    """The first pytest `E   ...` line of a log, else its last line."""
    lines = [line for line in text.splitlines() if line.strip()]
    return next((line[1:].strip() for line in lines if line.startswith("E ")), lines[-1] if lines else "")[:200]


def read_probe(probe):
    """{node id: the probe's times and "result"} of the cases a probed pytest run recorded (probe.outcomes.json: the
    forktools.outcomes record)."""
    results = outcomes.read(probe + ".outcomes.json")
    records = {}
    for record in [json.loads(line) for line in open(probe) if line.strip()] if os.path.exists(probe) else []:
        outcome, message = results.get(record["nodeid"], ("error", "no outcome recorded"))
        reason = (message.strip().splitlines() or [""])[0].removeprefix("Skipped: ")[:200]
        record["result"] = reason if reason.startswith("not run") else outcome + f": {reason}" * (outcome != "passed")
        records[record.pop("nodeid")] = record
    return records


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
        print(f"built {model} {name} on {device}", flush=True)
        del module
        torch.cuda.empty_cache()
    tokenizers = {name: ["transformers", cls] for name, cls in standins.save_sd35_tokenizers(folder).items()}
    with open(os.path.join(folder, "model_index.json"), "w") as f:  # the scheduler config is written with them
        json.dump(dict(INDEX, **tokenizers, _diffusers_version=diffusers.__version__), f, indent=2)
    print(json.dumps({"params": params}))


class Check:
    def __init__(self, args):
        self.args, self.tiny, self.budget = args, args.tiny, args.budget
        self.size = SIZE["cpu" if self.tiny else "cuda"]
        self.deadlines = {"medium": STARTED + MEDIUM_SHARE * self.budget, "large": STARTED + self.budget}
        held = materialized() or {"line": None}  # the pristine tree of the line src/diffusers holds
        self.src = {"fork": os.path.join(ROOT, "src"), "upstream": str(Line(held["line"]).upstream_dir / "src")}
        if not all(os.path.isfile(os.path.join(src, "diffusers", "__init__.py")) for src in self.src.values()):
            sys.exit("gpu-check: no fork or pristine diffusers tree: run `make vendor`")
        self.versions = {side: ["(not run)", os.path.join(src, "diffusers", "")] for side, src in self.src.items()}
        self.steps = []  # [step, took s, result]
        self.rows = {(m, s, case): {"result": NOT_REACHED} for m in MODELS for s in SIDES for case in SIDES[s]}

    def step(self, model, name, cmd, side, **env):
        """Run one step's process by `model`'s deadline: (exit code or None, output tail), or None when not reached."""
        if time.time() >= self.deadlines[model]:
            return self.steps.append([name, None, NOT_REACHED])
        log(name)
        path = os.pathsep.join(filter(None, [self.src[side], str(ROOT), os.environ.get("PYTHONPATH")]))
        env = dict({k: v for k, v in os.environ.items() if not k.startswith("SD35_")}, PYTHONPATH=path, **env)
        started, log_name = time.time(), name.split(":")[0].replace(" ", "-") + ".log"
        returncode, tail = run_process(cmd, env, self.deadlines[model], os.path.join(self.args.work, log_name))
        if returncode not in (0, 1):
            print(tail, flush=True)
        self.steps.append([name, time.time() - started, ""])
        return returncode, tail

    def build(self, model):
        folder = os.path.join(self.args.work, f"sd35-{model}")
        call = f"from forktools.measure.gpu_check import build; build({folder!r}, {model!r}, {self.tiny})"
        ran = self.step(model, f"build {model}", [sys.executable, "-c", call], "fork")
        if ran and ran[0] == 0:
            self.steps[-1][2] = f"done: {json.loads(ran[1].splitlines()[-1])['params']:,} parameters"
            return True
        if ran:
            self.steps[-1][2] = "failed: " + ("killed at the deadline" if ran[0] is None else last_error(ran[1]))
            for key, row in self.rows.items():
                row["result"] = f"not run: the build of {model} failed" if key[0] == model else row["result"]
        return False

    def suite(self, model, side):
        """One pytest process: the slow suite's cases of `model` on `side` (fork or upstream)."""
        name = f"{model} {side}: {' / '.join(SIDES[side])}"
        nodeids = {f"{TEST}::{CASES[case].format(model=model)}": case for case in SIDES[side]}
        probe = os.path.join(self.args.work, f"probe-{model}-{side}.jsonl")
        folders = {f"SD35_{m.upper()}": os.path.join(self.args.work, f"sd35-{m}") for m in MODELS}
        for folder in folders.values():  # the suite allows the CPU only when every model location is a local folder
            os.makedirs(folder, exist_ok=True)
        cmd = [sys.executable, "-m", "pytest", *nodeids, "-q", "-rs", "-p", "no:cacheprovider"]
        cmd += ["-p", "forktools.measure.gpu_probe", "-p", "forktools.outcomes"]
        ran = self.step(
            model, name, cmd, side, RUN_SLOW="1", SD35_STEPS=str(STEPS), SD35_SIZE=str(self.size),
            GPU_CHECK_PROBE=probe, FORK_OUTCOMES=probe + ".outcomes.json", SD35_SLOW_REPORT=probe + ".md",
            GPU_CHECK_DEADLINE=str(self.deadlines[model]),
            **folders, **({"SD35_SLOW_ALLOW_CPU": "1", "CUDA_VISIBLE_DEVICES": ""} if self.tiny else {}),
        )  # fmt: skip
        if ran is None:
            return
        for node, record in read_probe(probe).items():
            self.versions[side] = record.pop("diffusers")
            self.rows[model, side, nodeids[node]].update(record)
        why = "killed at the deadline" if ran[0] is None else f"pytest exited with {ran[0]}: {last_error(ran[1])}"
        results = []
        for case in SIDES[side]:
            row = self.rows[model, side, case]
            row["result"] = f"not run: {why}" if row["result"] == NOT_REACHED else row["result"]
            results.append(row["result"].split(":")[0])
        self.steps[-1][2] = ", ".join(f"{results.count(o)} {o}" for o in sorted(set(results)))

    def run(self):
        log(f"budget {self.budget:.0f} s{', tiny stand-ins on CPU' * self.tiny}; work folder {self.args.work}")
        shutil.rmtree(self.args.work, ignore_errors=True)
        os.makedirs(self.args.work)
        try:
            for model in MODELS:
                built = self.build(model)
                self.write()
                for side in SIDES if built else ():
                    self.suite(model, side)
                    self.write()
                shutil.rmtree(os.path.join(self.args.work, f"sd35-{model}"), ignore_errors=True)  # one model on disk
        finally:
            shutil.rmtree(self.args.work, ignore_errors=True)
        return self.write(final=True)

    def write(self, final=False):
        """Write the report (after every step, so a run cut short still leaves one); return its text."""
        import torch
        import transformers

        where = {side: os.path.relpath(os.path.dirname(path), ROOT) for side, (_, path) in self.versions.items()}
        device = "CPU" if self.tiny else torch.cuda.get_device_name(0)
        what = "tiny SD3.5-shaped stand-ins (CPU rehearsal)" if self.tiny else "full-size SD3.5-shaped pipelines"
        lines = [
            f"### GPU check: {what}",
            "",
            "**Random weights**: the pipelines are SD3.5-shaped (real configs, real layout) but their weights are "
            "random, so this checks CUDA code paths, memory and speed, not image quality.",
            "",
            f"- {time.strftime('%Y-%m-%d %H:%M %Z')}, device: {device}; python {platform.python_version()}, torch "
            f"{torch.__version__}, transformers {transformers.__version__}",
            f"- fork: diffusers {self.versions['fork'][0]} from `{where['fork']}`; upstream: diffusers "
            f"{self.versions['upstream'][0]} from `{where['upstream']}` (each first on PYTHONPATH, nothing installed)",
            f"- {STEPS} steps at {self.size}x{self.size}; budget {self.budget:.0f} s, used "
            f"{time.time() - STARTED:.0f} s" + ("" if final else " (run in progress)"),
            "- load s: `from_pretrained` and the move to the device (or model CPU offload); encode s: the fastest "
            "`encode_prompt` call; s/step: the median transformer call after the first; peak GPU: "
            "`torch.cuda.max_memory_allocated`; offload: whether the suite's `load()` chose model CPU offload",
            "",
            "| model | diffusers | dtype | test | result | load s | encode s | s/step | peak GPU GiB | offload |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for (model, side, case), row in self.rows.items():
            ran, times = row.get("load_s") is not None, [fmt(row.get(k)) for k in ("load_s", "encode_s", "step_s")]
            cells = [model, side, case, CASES[case].split("[")[0], row["result"].replace("|", "/"), *times]
            cells += [fmt(row.get("peak_gib")) or "n/a (CPU)" * ran, ("yes" if row.get("offload") else "no") * ran]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "| step | took s | result |", "| --- | --- | --- |"]
        lines += [f"| {name} | {fmt(took)} | {result} |" for name, took, result in self.steps]
        os.makedirs(os.path.dirname(self.args.out), exist_ok=True)
        with open(self.args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
        return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="the CPU rehearsal on tiny stand-ins")
    parser.add_argument("--budget", type=float, default=BUDGET, help=f"seconds in all (default {BUDGET})")
    parser.add_argument("--out", help="the report (default: out/gpu-check.md, with --tiny out/gpu-check-tiny.md)")
    parser.add_argument("--work", help="where to build, deleted at the end (default: build/gpu-check[-tiny])")
    args = parser.parse_args(argv)

    import torch

    if not args.tiny and not torch.cuda.is_available():
        log("no CUDA device: running the CPU rehearsal on tiny stand-ins (--tiny)")
        args.tiny = True
    suffix = "-tiny" if args.tiny else ""
    args.out = os.path.abspath(args.out or os.path.join(ROOT, "out", f"gpu-check{suffix}.md"))
    args.work = os.path.abspath(args.work or os.path.join(ROOT, "build", f"gpu-check{suffix}"))
    check = Check(args)
    print(check.run(), flush=True)
    log(f"report written to {args.out}")
    failed = [key for key, row in check.rows.items() if key[1] == "fork" and row["result"].startswith(("fail", "err"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
