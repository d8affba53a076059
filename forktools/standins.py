"""Offline stand-ins for Stable Diffusion 3 / 3.5 pipelines (random weights, no hub access).

Each stand-in is a real `StableDiffusion3Pipeline` saved in diffusers format, with every component stored in a
chosen dtype. The default layout is the one of the real SD3.5 repositories (text encoders fp16, transformer bf16,
VAE fp32; see docs/sd35-checkpoints.md). Shapes:

- `tiny`: the smallest pipeline that exercises every code path, for fast tests.
- `medium`: SD3.5-Medium-shaped (MMDiT-X `dual_attention_layers`, `qk_norm="rms_norm"`), scaled down.
- `large`: SD3.5-Large-shaped (`qk_norm="rms_norm"`, no dual attention), scaled down.
- `bench`: SD3.5-Medium-shaped and large enough to time on a CPU (make bench).

    python -m forktools.standins OUT_DIR [--shape tiny|medium|large|bench]

`sd35_configs`, `build_sd35_component` and `save_sd35_tokenizers` build SD3.5 Medium / Large components one at a
time, at the real sizes (`full=True`, the configs of sd35.toml beside this file) or at the `medium` / `large` shapes
above, on any device (`make gpu-check` builds them on the GPU).
"""

import argparse
import copy
import os
import tempfile
import tomllib

import torch

from .upstream.hub_standins import CLIP_MAX_LENGTH, save_clip_tokenizer, save_t5_tokenizer


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "sd35.toml"), "rb") as _f:
    SD35 = tomllib.load(_f)  # the real repositories' configs and stored dtypes
SD35_STORED = {name: getattr(torch, dtype) for name, dtype in SD35["stored"].items()}
SD35_LAYOUT = dict(SD35_STORED, vae=torch.float32)  # the stand-ins' default layout: as stored, the VAE in float32
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")

# (CLIP-L hidden, CLIP-G hidden, T5 d_model, transformer layers, heads, head dim, dual attention, qk_norm)
SHAPES = {
    "tiny": dict(clip_l=32, clip_g=48, t5=96, layers=1, heads=2, head_dim=8, dual=(), qk_norm=None),
    "medium": dict(clip_l=32, clip_g=48, t5=96, layers=3, heads=3, head_dim=8, dual=(0, 1), qk_norm="rms_norm"),
    "large": dict(clip_l=32, clip_g=48, t5=96, layers=3, heads=4, head_dim=8, dual=(), qk_norm="rms_norm"),
    # Big enough to time on a CPU (make bench): about 30 M parameters.
    "bench": dict(clip_l=256, clip_g=384, t5=512, layers=6, heads=8, head_dim=32, dual=(0,), qk_norm="rms_norm"),
}


def _tokenizers():
    """The CLIP (byte-level BPE, its 2 special tokens last) and T5 tokenizers of forktools.upstream.hub_standins."""
    with tempfile.TemporaryDirectory(prefix="tokenizers-") as tmp:
        return save_clip_tokenizer(os.path.join(tmp, "clip")), save_t5_tokenizer(os.path.join(tmp, "t5"))


def make_components(shape="tiny", seed=0):
    """Random-weight components of an SD3 pipeline, all in fp32."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    configs = sd35_configs(shape, full=False)
    components = {name: build_sd35_component(name, config, seed=seed) for name, config in configs.items()}
    tokenizer, tokenizer_3 = _tokenizers()
    return dict(
        components,
        scheduler=FlowMatchEulerDiscreteScheduler(**SD35["scheduler"]),
        tokenizer=tokenizer,
        tokenizer_2=copy.deepcopy(tokenizer),
        tokenizer_3=tokenizer_3,
        image_encoder=None,
        feature_extractor=None,
    )


def save_pipeline(path, shape="tiny", layout=None, seed=0):
    """Save a tiny SD3 pipeline to `path` with each component stored in `layout[name]` (default: SD3.5's)."""
    from diffusers import StableDiffusion3Pipeline

    layout = dict(SD35_LAYOUT, **(layout or {}))
    components = make_components(shape, seed=seed)
    for name, dtype in layout.items():
        components[name].to(dtype)
    pipe = StableDiffusion3Pipeline(**components)
    pipe.save_pretrained(path, safe_serialization=True)
    return path


# ------------------------------------------------------------------------------------- SD3.5, one component at a time
def sd35_configs(model="medium", full=True):
    """
    {component: config kwargs} of an SD3.5 `model` ("medium" or "large"): the real configs with `full`, else the
    scaled-down shape of that name (any of SHAPES). Vocabularies cover the offline tokenizers' ids (the real sizes when
    `full`).
    """
    clip_len, t5_len = map(len, _tokenizers())
    configs = copy.deepcopy(SD35["configs"])
    for name in ("text_encoder", "text_encoder_2"):
        configs[name].update(max_position_embeddings=CLIP_MAX_LENGTH, bos_token_id=clip_len - 2)
        configs[name].update(eos_token_id=clip_len - 1, pad_token_id=clip_len - 1)
    t5 = configs["text_encoder_3"]
    t5.update(feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    if full:
        configs["transformer"].update(copy.deepcopy(SD35["models"][model]["transformer"]))
        return configs
    s, bench = SHAPES[model], SHAPES[model]["t5"] >= 256  # the bench shape has wider text encoders
    for name, hidden in (("text_encoder", s["clip_l"]), ("text_encoder_2", s["clip_g"])):
        configs[name].update(vocab_size=clip_len, hidden_size=hidden, intermediate_size=2 * hidden)
        configs[name].update(projection_dim=hidden, num_hidden_layers=2, num_attention_heads=8 if hidden >= 256 else 4)
    t5.update(vocab_size=t5_len, d_model=s["t5"], d_ff=2 * s["t5"], d_kv=s["t5"] // 8 if bench else 16)
    t5.update(num_layers=4 if bench else 2, num_heads=8 if bench else 4, relative_attention_num_buckets=8)
    configs["transformer"].update(
        sample_size=16, num_layers=s["layers"], attention_head_dim=s["head_dim"], num_attention_heads=s["heads"],
        joint_attention_dim=s["t5"], caption_projection_dim=s["heads"] * s["head_dim"],
        pooled_projection_dim=s["clip_l"] + s["clip_g"], pos_embed_max_size=32, dual_attention_layers=s["dual"],
        qk_norm=s["qk_norm"],
    )  # fmt: skip
    blocks = {k: configs["vae"][k][:2] for k in ("down_block_types", "up_block_types")}
    configs["vae"].update(blocks, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, sample_size=32)
    return configs


def build_sd35_component(name, config, device="cpu", seed=0):
    """
    One SD3.5 component with random weights, built in fp32 directly on `device` (torch's default initialisation, no
    copy through the CPU; "meta" builds nothing, for counting parameters).
    """
    torch.manual_seed(
        seed + {"text_encoder": 1, "text_encoder_2": 2, "text_encoder_3": 3, "transformer": 4}.get(name, 5)
    )
    with torch.device(device):
        if name in ("text_encoder", "text_encoder_2"):
            from transformers import CLIPTextConfig, CLIPTextModelWithProjection

            return CLIPTextModelWithProjection(CLIPTextConfig(**config)).eval()
        if name == "text_encoder_3":
            from transformers import T5Config, T5EncoderModel

            return T5EncoderModel(T5Config(**config)).eval()
        if name == "transformer":
            from diffusers import SD3Transformer2DModel

            return SD3Transformer2DModel(**config).eval()
        if name == "vae":
            from diffusers import AutoencoderKL

            return AutoencoderKL(**config).eval()
    raise ValueError(f"not an SD3.5 component with weights: {name}")


def stored_numel(module):
    """Elements `save_pretrained` writes: parameters (tied ones once) and persistent buffers."""
    persistent = set(module.state_dict(keep_vars=True))
    params = sum(p.numel() for p in module.parameters())
    return params + sum(b.numel() for name, b in module.named_buffers() if name in persistent)


def save_sd35_tokenizers(folder):
    """The offline tokenizers (CLIP twice, T5) and the SD3.5 scheduler config."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    tokenizers = {name: save_clip_tokenizer(os.path.join(folder, name)) for name in ("tokenizer", "tokenizer_2")}
    tokenizers["tokenizer_3"] = save_t5_tokenizer(os.path.join(folder, "tokenizer_3"))
    scheduler = FlowMatchEulerDiscreteScheduler(**SD35["scheduler"])
    scheduler.save_pretrained(os.path.join(folder, "scheduler"))
    return {name: type(tokenizer).__name__ for name, tokenizer in tokenizers.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write the pipeline to")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    save_pipeline(args.out, shape=args.shape, seed=args.seed)
    print(f"saved a {args.shape} SD3 stand-in to {args.out}")


if __name__ == "__main__":
    main()
