#!/usr/bin/env python3
"""Generate an image with Stable Diffusion 3.5 in the precision you choose.

Point --model at stabilityai/stable-diffusion-3.5-medium, -large or -large-turbo, or at a local copy. Offline, a
tiny random-weight stand-in made with `python -m forktools.standins FOLDER --shape medium` works too (its images are
noise: it shows that every precision setup runs; `make demo` does this).

The script prints the dtype each component was loaded in and the dtype of the embeddings and latents handed to the
transformer, shows the denoising progress bar and saves a PNG.

Model-card defaults: Medium 40 steps, guidance 4.5; Large 28 steps, guidance 3.5; Large Turbo 4 steps, guidance 0.
"""

import argparse
import os
import sys


DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
COMPONENTS = ("text_encoder", "text_encoder_2", "text_encoder_3", "transformer", "vae")


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser():
    parser = Parser(
        prog="sd35_generate.py",
        description=__doc__.split("\n\n")[0],
        epilog="Example (GPU): python examples/sd35_generate.py --model stabilityai/stable-diffusion-3.5-large "
        '--dtype bf16 --steps 28 --guidance 3.5 --prompt "a red fox in snow" --out fox.png',
    )
    parser.add_argument("--model", required=True, help="hub id or local folder of an SD3 / SD3.5 pipeline")
    parser.add_argument("--dtype", choices=sorted(DTYPES), help="pipeline dtype (default: none given, i.e. fp32)")
    parser.add_argument("--t5-dtype", choices=sorted(DTYPES), help="override for T5-XXL (text_encoder_3)")
    parser.add_argument("--clip-dtype", choices=sorted(DTYPES), help="override for both CLIP text encoders")
    parser.add_argument("--prompt", default="a photo of an astronaut riding a horse on the moon")
    parser.add_argument("--steps", type=int, default=28, help="denoising steps (default: 28)")
    parser.add_argument("--guidance", type=float, default=4.5, help="guidance scale (default: 4.5)")
    parser.add_argument("--size", type=int, default=1024, help="image height and width (default: 1024)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--offload", action="store_true", help="model CPU offload (GPU box with little memory)")
    parser.add_argument("--out", default=os.path.join("out", "sd35.png"), help="PNG to write (default: out/sd35.png)")
    return parser


def resolve_model(model):
    """The folder or hub id to load, after checking what can be checked without the network."""
    if os.path.isdir(model):
        if not os.path.isfile(os.path.join(model, "model_index.json")):
            raise UsageError(f"{model} is not a diffusers pipeline folder (no model_index.json)")
        return model
    looks_like_hub_id = model.count("/") == 1 and not model.startswith((".", "/", "~")) and not os.path.exists(model)
    if not looks_like_hub_id:
        raise UsageError(f"no such folder: {model}")
    return model


def dtype_request(args):
    """What to pass as `dtype` to from_pretrained: None, one dtype, or a per-component dict."""
    import torch

    def to_dtype(name):
        return getattr(torch, DTYPES[name]) if name else None

    if not args.t5_dtype and not args.clip_dtype:
        return to_dtype(args.dtype)
    request = {"default": to_dtype(args.dtype) or torch.float32}
    if args.t5_dtype:
        request["text_encoder_3"] = to_dtype(args.t5_dtype)
    if args.clip_dtype:
        request["text_encoder"] = request["text_encoder_2"] = to_dtype(args.clip_dtype)
    return request


def short(dtype):
    names = {"torch.float16": "fp16", "torch.bfloat16": "bf16", "torch.float32": "fp32"}
    return names.get(str(dtype), str(dtype).replace("torch.", ""))


def module_dtypes(module):
    return sorted({short(p.dtype) for p in module.parameters() if p.is_floating_point()})


def run(args, log=print):
    model = resolve_model(args.model)
    import torch
    from packaging import version

    import diffusers
    from diffusers import StableDiffusion3Pipeline

    request = dtype_request(args)
    # diffusers 0.40 renamed `torch_dtype` to `dtype`; older releases (the fork's transformers-4 line) take `torch_dtype`.
    # (The same switch as `forktools.envs.dtype_keyword`, repeated: this script runs without the repository on its path.)
    keyword = "dtype" if version.parse(diffusers.__version__).release >= (0, 40) else "torch_dtype"
    pipe = StableDiffusion3Pipeline.from_pretrained(model, **({} if request is None else {keyword: request}))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.offload and device == "cuda":
        pipe.enable_model_cpu_offload()
    else:
        # Recent torch runs fp16 on CPU too, so diffusers' "fp16 cannot run on cpu" warning is moot.
        pipe.to(device, silence_dtype_warnings=True)

    seen = {}

    def spy(module, positional, kwargs):
        seen.setdefault("latents", kwargs["hidden_states"].dtype)
        seen.setdefault("prompt_embeds", kwargs["encoder_hidden_states"].dtype)
        seen.setdefault("pooled_prompt_embeds", kwargs["pooled_projections"].dtype)

    pipe.transformer.register_forward_pre_hook(spy, with_kwargs=True)
    log(f"model: {model}, device: {device}")
    log(f"requested dtype: {request if request is not None else 'none (pipeline default)'}")
    log("| component | class | loaded dtype(s) |")
    log("| --- | --- | --- |")
    for name in COMPONENTS:
        module = getattr(pipe, name, None)
        if module is not None:
            log(f"| {name} | {module.__class__.__name__} | {', '.join(module_dtypes(module))} |")

    image = pipe(
        args.prompt,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        height=args.size,
        width=args.size,
        generator=torch.Generator("cpu").manual_seed(args.seed),
    ).images[0]
    log("| handed to the transformer | dtype |")
    log("| --- | --- |")
    for name in ("prompt_embeds", "pooled_prompt_embeds", "latents"):
        log(f"| {name} | {short(seen[name])} |")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    image.save(args.out)
    log(f"saved {args.out} ({image.width}x{image.height})")
    return image, seen


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        run(args)
    except UsageError as err:
        print(f"sd35_generate.py: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. a hub id that cannot be reached or does not exist
        print(f"sd35_generate.py: error: cannot load the model: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
