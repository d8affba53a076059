#!/usr/bin/env python3
"""`make demo`: what the fork changes, at a glance. SD3.5, Flux and SDXL pipelines, each loaded in four precision
setups the official way (`from_pretrained(folder, torch_dtype={"text_encoder": ..., "default": ...})`), run side by
side on pristine upstream diffusers and on the fork; writes one contact sheet (upstream's image or its error beside
the fork's image and the dtypes its denoiser received) and the same as a markdown table.

    python examples/demo.py --sd35 FOLDER [--upstream-src DIR] [--out out/demo] [--steps 2]

FOLDER is an SD3.5 pipeline (a hub id, or a folder: `make demo` builds a tiny offline stand-in with
`python -m forktools.standins FOLDER --shape medium`); Flux and SDXL are tiny pipelines built in code (random weights)
and saved under OUT/models/. The upstream side runs in a subprocess with the pristine release's source tree first on
PYTHONPATH (default: the one `make vendor` extracted for the installed fork's release). Exit status 1 when the fork fails in any setup.
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap

from PIL import Image, ImageDraw


SETUPS = {  # caption: (dtype of the text encoders, dtype of every other component)
    "all bf16": ("bfloat16", "bfloat16"),
    "text encoders fp32, rest bf16": ("float32", "bfloat16"),
    "text encoders bf16, rest fp32": ("bfloat16", "float32"),
    "text encoders fp16, rest bf16": ("float16", "bfloat16"),
}
SIZES = {"sd35": 32, "flux": 32, "sdxl": 64}
TILE = 128
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # forktools: the offline stand-ins and the pristine tree's location


def build_models(folder, sd35):
    """The demo's pipelines: name -> folder (Flux and SDXL built once, in code, with offline tokenizers)."""
    from forktools.upstream import hub_standins

    import diffusers

    models = {"sd35": sd35}
    tokenizers = {"clip": os.path.join(folder, "tokenizers", "clip"), "t5": os.path.join(folder, "tokenizers", "t5")}
    for name, build in (
        ("flux", lambda: diffusers.FluxPipeline(**hub_standins.flux_components(tokenizers["clip"], tokenizers["t5"]))),
        ("sdxl", lambda: diffusers.StableDiffusionXLPipeline(**hub_standins.sdxl_components(tokenizers["clip"]))),
    ):
        models[name] = os.path.join(folder, name)
        if not os.path.isfile(os.path.join(models[name], "model_index.json")):
            if not os.path.isdir(tokenizers["clip"]):
                hub_standins.save_clip_tokenizer(tokenizers["clip"])
                hub_standins.save_t5_tokenizer(tokenizers["t5"])
            build().save_pretrained(models[name])
    return models


def run_side(models, out, steps):
    """Every model in every setup with the diffusers this process imports; writes OUT/results.json and the images."""
    import torch

    import diffusers

    os.makedirs(out, exist_ok=True)
    results = {"diffusers": diffusers.__version__}
    for name, folder in models.items():
        with open(os.path.join(folder, "model_index.json")) as f:
            text_encoders = [key for key in json.load(f) if key.startswith("text_encoder")]
        for caption, (text_dtype, dtype) in SETUPS.items():
            key, seen = f"{name}: {caption}", {}
            try:
                torch_dtype = {te: getattr(torch, text_dtype) for te in text_encoders}
                pipe = diffusers.DiffusionPipeline.from_pretrained(
                    folder, torch_dtype={**torch_dtype, "default": getattr(torch, dtype)}
                )
                pipe.set_progress_bar_config(disable=True)
                denoiser = pipe.unet if hasattr(pipe, "unet") else pipe.transformer

                def record(module, args, kwargs):
                    latents = args[0] if args else kwargs.get("hidden_states", kwargs.get("sample"))
                    seen.setdefault("conditioning", str(kwargs["encoder_hidden_states"].dtype).split(".")[-1])
                    seen.setdefault("latents", str(latents.dtype).split(".")[-1])

                denoiser.register_forward_pre_hook(record, with_kwargs=True)
                size = SIZES.get(name, 32)
                image = pipe(
                    "a photo of a cat", num_inference_steps=steps, height=size, width=size,
                    generator=torch.Generator().manual_seed(0),
                ).images[0]  # fmt: skip
                path = os.path.join(out, f"{name}-{caption.replace(' ', '-').replace(',', '')}.png")
                image.save(path)
                results[key] = {"image": path, **seen}
            except Exception as error:  # upstream's outcome, shown as it is
                results[key] = {"error": f"{type(error).__name__}: {str(error).splitlines()[0]}"}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


def cell(result):
    if "error" in result:
        return result["error"]
    return f"ok: conditioning {result['conditioning']}, latents {result['latents']}"


def contact_sheet(models, sides, path):
    rows = [(name, caption) for name in models for caption in SETUPS]
    sheet = Image.new("RGB", (190 + 2 * (TILE + 200), 30 + len(rows) * (TILE + 8)), "white")
    draw = ImageDraw.Draw(sheet)
    for col, (side, results) in enumerate(sides.items()):
        draw.text((190 + col * (TILE + 200), 8), f"{side} (diffusers {results['diffusers']})", fill="black")
    for row, (name, caption) in enumerate(rows):
        top = 30 + row * (TILE + 8)
        draw.text((4, top + 4), f"{name}\n{caption}", fill="black")
        for col, results in enumerate(sides.values()):
            left, result = 190 + col * (TILE + 200), results[f"{name}: {caption}"]
            if "image" in result:
                sheet.paste(Image.open(result["image"]).resize((TILE, TILE), Image.NEAREST), (left, top))
                draw.text((left + TILE + 6, top + 4), textwrap.fill(cell(result), 30), fill="black")
            else:
                draw.text((left, top + 4), textwrap.fill(cell(result), 50), fill="firebrick")
    sheet.save(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sd35", required=True, help="hub id or local folder of an SD3.5 pipeline")
    parser.add_argument("--upstream-src", help="pristine diffusers source tree (default: the one `make vendor` made)")
    parser.add_argument("--out", default=os.path.join("out", "demo"))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--side", help=argparse.SUPPRESS)  # internal: run one side into this folder
    args = parser.parse_args(argv)
    if args.side:
        run_side(json.loads(os.environ["DEMO_MODELS"]), args.side, args.steps)
        return 0

    import diffusers

    if "+" not in diffusers.__version__:
        parser.error(f"diffusers {diffusers.__version__} is not the fork: `make install` first")
    upstream_src = args.upstream_src
    if upstream_src is None:
        from forktools.lines import of_version

        upstream_src = str(of_version(diffusers.__version__).pristine.parent)  # the release the fork patches
    models = build_models(os.path.join(args.out, "models"), args.sd35)
    procs = {}
    for side, src in (("upstream", upstream_src), ("fork", None)):
        env = dict(os.environ, DEMO_MODELS=json.dumps(models))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, ROOT, os.environ.get("PYTHONPATH")]))
        command = [sys.executable, os.path.abspath(__file__), "--sd35", args.sd35, "--steps", str(args.steps)]
        procs[side] = subprocess.Popen([*command, "--side", os.path.join(args.out, side)], env=env)
    for side, proc in procs.items():
        if proc.wait() != 0:
            sys.exit(f"the {side} side failed (exit status {proc.returncode})")
    sides = {}
    for side in procs:
        with open(os.path.join(args.out, side, "results.json")) as f:
            sides[side] = json.load(f)
    if "+" in sides["upstream"]["diffusers"]:
        sys.exit(f"the upstream side ran the fork ({sides['upstream']['diffusers']}): give --upstream-src")
    lines = ["| pipeline | setup | upstream | fork |", "| --- | --- | --- | --- |"]
    for name in models:
        for caption in SETUPS:
            key = f"{name}: {caption}"
            lines.append(f"| {name} | {caption} | {cell(sides['upstream'][key])} | {cell(sides['fork'][key])} |")
    sheet = os.path.join(args.out, "contact-sheet.png")
    contact_sheet(models, sides, sheet)
    with open(os.path.join(args.out, "demo.md"), "w") as f:
        f.write(
            f"# Upstream diffusers {sides['upstream']['diffusers']} and the fork {sides['fork']['diffusers']}\n\n"
            + "\n".join(lines)
            + "\n"
        )
    print("\n".join(lines))
    print(f"wrote {sheet} and {os.path.join(args.out, 'demo.md')}")
    failed = [key for key, result in sides["fork"].items() if isinstance(result, dict) and "error" in result]
    if failed:
        print(f"the fork failed in {len(failed)} setup(s): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
