"""`make gpu-check`: the slow SD3.5 suite on full-size SD3.5 Medium- and Large-shaped pipelines with random weights,
built on the spot on a CUDA GPU, on the fork and on pristine upstream, within a total time budget.

    python -m forktools.measure.gpu_check [--tiny] [--budget SECONDS] [--out out/gpu-check.md]

Nothing is installed: the fork (`src/diffusers`) or the release it patches (`build/upstream/diffusers-<version>/src`,
both made by `make vendor`) goes first on each step's PYTHONPATH. Each step is a process killed at its deadline. Per
model, Medium then Large: build it at the real configs (`forktools.standins`, docs/sd35-checkpoints.md) one component
at a time and save it in the real repositories' layout (Large links Medium's text encoders, tokenizers, scheduler and
VAE); run `tests/slow` on pristine upstream in bf16, then on the fork: bf16 and the T5-fp32 mixed load (the core
cases), fp16, fp32 and the default load, timed by the `forktools.measure.gpu_probe` plugin; delete its transformer.
Medium's steps end by MEDIUM_SHARE of the budget, Large's by its end; a step or case not reached by then is reported
as not run. The agreement tests are left out: with random weights they say nothing. Without CUDA (or with --tiny) the
same steps run on CPU, on tiny SD3.5-Medium/Large-shaped stand-ins.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

from ..lines import ROOT, Line, materialized


TEST = "tests/slow/test_sd35_precision.py"
MODELS = ("medium", "large")
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")
CLASSES = {
    "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "text_encoder_3": ["transformers", "T5EncoderModel"],
    "transformer": ["diffusers", "SD3Transformer2DModel"],
    "vae": ["diffusers", "AutoencoderKL"],
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
}
# case: (dtype column, case column, slow-suite test), in the order they run: the core cases first.
CASES = {
    "bf16": ("bf16", "load + encode + generate", "test_load_encode_generate[{model}-bf16]"),
    "mixed": ("T5 fp32, rest bf16", "mixed load", "test_mixed_load_t5_fp32_rest_bf16[{model}]"),
    "fp16": ("fp16", "load + encode + generate", "test_load_encode_generate[{model}-fp16]"),
    "fp32": ("fp32", "load + encode + generate", "test_load_encode_generate[{model}-fp32]"),
    "default": ("(none): fp32", "default load", "test_default_load_without_dtype[{model}]"),
}
SIDES = {"fork": list(CASES), "upstream": ["bf16"]}
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
    """Run `cmd` in its own process group, killed at `deadline` (epoch s): (exit code, None if killed; output tail)."""
    with open(log_path, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            returncode = proc.wait(timeout=max(deadline - time.time(), 0.1))
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    with open(log_path, errors="replace") as f:
        return returncode, f.read()[-3000:]


def last_error(text):
    """The first pytest `E   ...` line of a log, else its last line."""
    lines = [line for line in text.splitlines() if line.strip()]
    return next((line[1:].strip() for line in lines if line.startswith("E ")), lines[-1] if lines else "")[:200]


def build(work, model, tiny, with_shared):
    """The build step's process: `model` one component at a time, saved in the SD3.5 layout under `work`."""
    import torch

    import diffusers

    from .. import standins

    device = "cuda" if torch.cuda.is_available() and not tiny else "cpu"
    configs = standins.sd35_configs(model, full=not tiny)
    shared, folder = os.path.join(work, "sd35-shared"), os.path.join(work, f"sd35-{model}")
    params = 0
    for name in [*TEXT_ENCODERS, "vae", "transformer"] if with_shared else ["transformer"]:
        module = standins.build_sd35_component(name, configs[name], device=device).to(standins.SD35_STORED[name])
        params += standins.stored_numel(module)
        target = os.path.join(folder if name == "transformer" else shared, name)
        module.save_pretrained(target, max_shard_size="10GB")
        if name in TEXT_ENCODERS:  # the real repositories' configs say torch_dtype (written by transformers 4)
            with open(os.path.join(target, "config.json")) as f:
                config = json.load(f)
            config.pop("dtype", None)
            with open(os.path.join(target, "config.json"), "w") as f:
                json.dump(dict(config, torch_dtype="float16"), f, indent=2, sort_keys=True)
        print(f"built {model} {name} on {device}", flush=True)
        del module
        torch.cuda.empty_cache()
    if with_shared:  # the tokenizers and the scheduler config
        with open(os.path.join(shared, "tokenizers.json"), "w") as f:
            json.dump(standins.save_sd35_tokenizers(shared), f)
    with open(os.path.join(shared, "tokenizers.json")) as f:
        index = dict(CLASSES, **{name: ["transformers", cls] for name, cls in json.load(f).items()})
    with open(os.path.join(folder, "model_index.json"), "w") as f:
        json.dump(dict(index, _class_name="StableDiffusion3Pipeline", _diffusers_version=diffusers.__version__), f)
    for name in index:
        if name not in ("transformer", "feature_extractor", "image_encoder"):
            os.symlink(os.path.join("..", "sd35-shared", name), os.path.join(folder, name))
    print(json.dumps({"params": params}))


class Check:
    def __init__(self, args, device):
        self.args, self.device, self.tiny = args, device, args.tiny
        self.size, self.budget = SIZE[device], args.budget
        self.deadlines = {"medium": STARTED + MEDIUM_SHARE * self.budget, "large": STARTED + self.budget}
        held = materialized()
        if held is None:
            sys.exit("gpu-check: src/diffusers is not materialized: run `make vendor`")
        self.src = {"fork": os.path.join(ROOT, "src"), "upstream": str(Line(held["line"]).upstream_dir / "src")}
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
        started, log_name = time.time(), name.split(" (")[0].split(":")[0].replace(" ", "-") + ".log"
        returncode, tail = run_process(cmd, env, self.deadlines[model], os.path.join(self.args.work, log_name))
        if returncode not in (0, 1):
            print(tail, flush=True)
        self.steps.append([name, time.time() - started, ""])
        return returncode, tail

    def build(self, model, with_shared):
        call = f"from forktools.measure.gpu_check import build; build({self.args.work!r}, {model!r}, {self.tiny}, "
        name = f"build {model}" + (" (text encoders, VAE, transformer)" if with_shared else " (transformer)")
        ran = self.step(model, name, [sys.executable, "-c", call + f"{with_shared})"], "fork")
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
        name = f"{model} {side}: {', '.join(SIDES[side])}"
        if not os.path.isfile(os.path.join(self.src[side], "diffusers", "__init__.py")):
            return self.steps.append([name, None, f"not run: no {self.src[side]}/diffusers (`make vendor`)"])
        nodeids = {f"{TEST}::{CASES[case][2].format(model=model)}": case for case in SIDES[side]}
        probe = os.path.join(self.args.work, f"probe-{model}-{side}.jsonl")
        folders = {f"SD35_{m.upper()}": os.path.join(self.args.work, f"sd35-{m}") for m in MODELS}
        for folder in folders.values():  # the suite allows the CPU only when every model location is a local folder
            os.makedirs(folder, exist_ok=True)
        cmd = [sys.executable, "-m", "pytest", *nodeids, "-p", "forktools.measure.gpu_probe", "-p", "no:cacheprovider"]
        ran = self.step(
            model, name, cmd + ["-q", "-rs"], side, RUN_SLOW="1", SD35_STEPS=str(STEPS), SD35_SIZE=str(self.size),
            GPU_CHECK_PROBE=probe, GPU_CHECK_DEADLINE=str(self.deadlines[model]), SD35_SLOW_REPORT=probe + ".md",
            **folders, **({"SD35_SLOW_ALLOW_CPU": "1", "CUDA_VISIBLE_DEVICES": ""} if self.tiny else {}),
        )  # fmt: skip
        if ran is None:
            return
        for record in [json.loads(line) for line in open(probe) if line.strip()] if os.path.exists(probe) else []:
            self.versions[side] = record.pop("diffusers")
            self.rows[model, side, nodeids[record.pop("nodeid")]].update(record)
        why = "killed at the deadline" if ran[0] is None else f"pytest exited with {ran[0]}: {last_error(ran[1])}"
        outcomes = []
        for case in SIDES[side]:
            row = self.rows[model, side, case]
            row["result"] = f"not run: {why}" if row["result"] == NOT_REACHED else row["result"]
            outcomes.append(row["result"].split(":")[0])
        self.steps[-1][2] = ", ".join(f"{outcomes.count(o)} {o}" for o in sorted(set(outcomes)))

    def run(self):
        log(f"budget {self.budget:.0f} s on {self.device}{' (tiny stand-ins)' * self.tiny}; work in {self.args.work}")
        shutil.rmtree(self.args.work, ignore_errors=True)
        os.makedirs(self.args.work)
        try:
            built = False
            for model in MODELS:
                if self.build(model, with_shared=not built):
                    built = True
                    self.suite(model, "upstream")
                    self.write()
                    self.suite(model, "fork")
                # Never two transformers on disk: the next model links the rest.
                shutil.rmtree(os.path.join(self.args.work, f"sd35-{model}", "transformer"), ignore_errors=True)
                self.write()
        finally:
            shutil.rmtree(self.args.work, ignore_errors=True)
        return self.write(final=True)

    def write(self, final=False):
        """Write the report (after every step, so a run cut short still leaves one); return its text."""
        text = self.report(final)
        os.makedirs(os.path.dirname(self.args.out), exist_ok=True)
        with open(self.args.out, "w") as f:
            f.write(text)
        return text

    def ratios(self, model):
        fork, up = self.rows[model, "fork", "bf16"], self.rows[model, "upstream", "bf16"]
        if fork["result"] != "passed" or up["result"] != "passed":
            return ["", "", ""]
        return [fmt(fork[k] / up[k]) if fork.get(k) and up.get(k) else "" for k in ("load_s", "encode_s", "step_s")]

    def report(self, final=True):
        import torch
        import transformers

        where = {side: os.path.relpath(os.path.dirname(path), ROOT) for side, (_, path) in self.versions.items()}
        what = "tiny SD3.5-shaped stand-ins (CPU rehearsal)" if self.tiny else "full-size SD3.5-shaped pipelines"
        lines = [
            f"### GPU check: {what}",
            "",
            "**Random weights**: the pipelines are SD3.5-shaped (real configs, real layout) but their weights are "
            "random, so this checks CUDA code paths, memory and speed, not image quality.",
            "",
            f"- {time.strftime('%Y-%m-%d %H:%M %Z')}, device: "
            f"{torch.cuda.get_device_name(0) if self.device == 'cuda' else 'CPU'}; python "
            f"{platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}",
            f"- fork: diffusers {self.versions['fork'][0]} from `{where['fork']}`; upstream: diffusers "
            f"{self.versions['upstream'][0]} from `{where['upstream']}` (each first on PYTHONPATH, nothing installed)",
            f"- {STEPS} steps at {self.size}x{self.size}; budget {self.budget:.0f} s, used {time.time() - STARTED:.0f} s"
            + ("" if final else " (run in progress)"),
            "",
            "| model | dtype | case | result | load s | encode s | s/step | peak GPU GiB | offload "
            "| fork/upstream load | encode | step |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for (model, side, case), row in self.rows.items():
            ran = row.get("load_s") is not None
            cells = [model, CASES[case][0], CASES[case][1] + " (pristine upstream)" * (side == "upstream")]
            cells += [row["result"].replace("|", "/"), *(fmt(row.get(k)) for k in ("load_s", "encode_s", "step_s"))]
            cells += [fmt(row.get("peak_gib")) or "n/a (CPU)" * ran, ("yes" if row.get("offload") else "no") * ran]
            cells += self.ratios(model) if (side, case) == ("fork", "bf16") else ["", "", ""]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [
            "",
            "Load s: `from_pretrained` plus the move to the device (or model CPU offload). Encode s: the fastest "
            "`encode_prompt` call. s/step: the median transformer call after the first (one batch of 2: classifier-free "
            "guidance). Peak GPU: `torch.cuda.max_memory_allocated` per case. fork/upstream: the fork's bf16 case over "
            "pristine upstream's, one process each on the same files (above 1: the fork is slower).",
            "",
            "| step | took s | result |",
            "| --- | --- | --- |",
            *(f"| {name} | {fmt(took)} | {result} |" for name, took, result in self.steps),
        ]
        return "\n".join(lines) + "\n"


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
    check = Check(args, "cpu" if args.tiny else "cuda")
    print(check.run(), flush=True)
    log(f"report written to {args.out}")
    failed = [key for key, row in check.rows.items() if key[1] == "fork" and row["result"].startswith(("fail", "err"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
