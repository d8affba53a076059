"""PixArt, Allegro and Latte: the T5 conditioning reaches the transformer in the transformer's dtype.

PixArtAlphaPipeline.encode_prompt is the source of the PixArt-Sigma, PAG PixArt-Sigma and Allegro copies; its case
uses a transformer of `sample_size` 128, the only one that takes the resolution and aspect-ratio micro-conditions.
Latte has an encode_prompt of its own.
"""

import torch

from forktools.upstream import hub_standins

from . import Case


def _t5(tokenizers):
    from transformers import T5EncoderModel, T5TokenizerFast

    torch.manual_seed(0)
    text_encoder = T5EncoderModel(hub_standins.t5_config()).eval()
    return dict(text_encoder=text_encoder, tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]))


TRANSFORMER = dict(
    num_layers=1, patch_size=2, attention_head_dim=8, num_attention_heads=3, caption_channels=32, in_channels=4,
    cross_attention_dim=24, out_channels=8, attention_bias=True, activation_fn="gelu-approximate",
    num_embeds_ada_norm=1000, norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
)  # fmt: skip


def _pixart_alpha(tokenizers):
    from diffusers import AutoencoderKL, DDIMScheduler, PixArtTransformer2DModel

    torch.manual_seed(0)
    transformer = PixArtTransformer2DModel(sample_size=128, **TRANSFORMER).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL().eval()
    return dict(_t5(tokenizers), transformer=transformer, vae=vae, scheduler=DDIMScheduler())


def _pixart_alpha_inputs():
    return dict(
        prompt="a photo of a cat", num_inference_steps=2, guidance_scale=5.0, height=8, width=8, output_type="pt",
        use_resolution_binning=False, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _latte(tokenizers):
    from diffusers import AutoencoderKL, DDIMScheduler, LatteTransformer3DModel

    torch.manual_seed(0)
    transformer = LatteTransformer3DModel(sample_size=8, **TRANSFORMER).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL().eval()
    return dict(_t5(tokenizers), transformer=transformer, vae=vae, scheduler=DDIMScheduler())


def _latte_inputs():
    return dict(
        prompt="a photo of a cat", negative_prompt="low quality", num_inference_steps=2, guidance_scale=5.0, height=8,
        width=8, video_length=1, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "pixart-conditioning-in-transformer-dtype.patch"
CASES = [
    Case(
        "PixArtAlphaPipeline",
        PATCH,
        _pixart_alpha,
        _pixart_alpha_inputs,
        denoiser="transformer",
        conditioning=("encoder_hidden_states", "encoder_attention_mask", "added_cond_kwargs"),
    ),
    Case(
        "LattePipeline", PATCH, _latte, _latte_inputs, denoiser="transformer", conditioning=("encoder_hidden_states",)
    ),
]
