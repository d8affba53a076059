"""`make bench`: the fork against pristine upstream on an SD3.5-shaped random-weight pipeline, on CPU.

    python -m forktools.measure.bench [--runs 3] [--out out/bench.md]

Each run is a fresh process, alternating upstream (pristine sdist tree first on PYTHONPATH) and the fork, for each
uniform dtype upstream supports (bf16, fp32), on one CPU thread. A run measures the best of 3 `from_pretrained`
calls, of 5 `encode_prompt` calls (after a warm-up) and of 3 four-step 64x64 generations, and the process's peak
RSS. The report gives
upstream and fork medians and the fork/upstream ratios of the medians and of the minima (target: <= 1.01, peak RSS
not above upstream's). A benchmark, not a test: it prints ratios and asserts nothing.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


from ..envs import dtype_keyword
from ..lines import ROOT, select
from ..queue import Queue
from ..standins import save_pipeline


PROMPT = "a photo of an astronaut riding a horse on the moon"


def worker(repo, dtype_name):
    import torch

    from diffusers import StableDiffusion3Pipeline

    torch.set_num_threads(1)  # one thread: steadier timings on a shared CPU
    dtype = getattr(torch, dtype_name)

    def best_of(n, fn):
        times = []
        for _ in range(n):
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
        return min(times), result

    keyword = dtype_keyword()
    load, pipe = best_of(3, lambda: StableDiffusion3Pipeline.from_pretrained(repo, **{keyword: dtype}))
    pipe.set_progress_bar_config(disable=True)
    pipe.encode_prompt(PROMPT, None, None)
    encode, _ = best_of(5, lambda: pipe.encode_prompt(PROMPT, None, None))
    generate, _ = best_of(
        3,
        lambda: pipe(PROMPT, num_inference_steps=4, height=64, width=64, generator=torch.Generator().manual_seed(0)),
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"load": load, "encode": encode, "generate": generate, "peak_rss": rss}


def run_side(side, repo, dtype_name, pristine):
    env = dict(os.environ)
    if side == "upstream":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pristine, env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "forktools.measure.bench", "--worker", repo, dtype_name]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{side} {dtype_name} run failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(ROOT, "out", "bench.md"))
    args = parser.parse_args()

    queue = Queue(select(materialized_first=True))
    pristine = str(queue.ensure_pristine().parent)
    repo = os.path.join(ROOT, "build", "stand-ins", "sd35-bench")
    if not os.path.isfile(os.path.join(repo, "model_index.json")):
        save_pipeline(repo, shape="bench")

    lines = [
        f"Fork vs upstream diffusers {queue.version}, SD3.5-Medium-shaped random-weight pipeline (forktools.standins "
        f"shape `bench`), CPU ({os.cpu_count()} cores), {args.runs} fresh processes per side and dtype.",
        "",
        "| dtype | metric | upstream median | fork median | ratio (median) | ratio (min) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for dtype_name in ("bfloat16", "float32"):
        results = {"upstream": [], "fork": []}
        for _ in range(args.runs):
            for side in ("upstream", "fork"):
                results[side].append(run_side(side, repo, dtype_name, pristine))
        for metric in ("load", "encode", "generate", "peak_rss"):
            up = [r[metric] for r in results["upstream"]]
            fk = [r[metric] for r in results["fork"]]
            unit = (lambda v: f"{v / 2**20:.0f} MiB") if metric == "peak_rss" else (lambda v: f"{v * 1000:.1f} ms")
            lines.append(
                f"| {dtype_name} | {metric} | {unit(statistics.median(up))} | {unit(statistics.median(fk))} "
                f"| {statistics.median(fk) / statistics.median(up):.3f} | {min(fk) / min(up):.3f} |"
            )
        print("\n".join(lines[-4:]), flush=True)
    report = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(report)
    print(report)
    print(f"written to {os.path.relpath(args.out, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
