"""Stable Cascade: the CLIP conditioning reaches the prior and the decoder in their dtypes."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _text_encoder(tokenizers):
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(hub_standins.clip_text_config(projection_dim=32)).eval()
    return dict(text_encoder=text_encoder, tokenizer=CLIPTokenizer.from_pretrained(tokenizers["clip"]))


def _prior(tokenizers):
    from diffusers import DDPMWuerstchenScheduler, StableCascadeUNet

    torch.manual_seed(0)
    prior = StableCascadeUNet(
        conditioning_dim=32, block_out_channels=(32, 32), num_attention_heads=(2, 2),
        down_num_layers_per_block=(1, 1), up_num_layers_per_block=(1, 1), switch_level=(False,),
        clip_image_in_channels=32, clip_text_in_channels=32, clip_text_pooled_in_channels=32, dropout=(0.1, 0.1),
    ).eval()  # fmt: skip
    return dict(
        _text_encoder(tokenizers), prior=prior, scheduler=DDPMWuerstchenScheduler(), feature_extractor=None,
        image_encoder=None,
    )  # fmt: skip


def _prior_inputs():
    return dict(
        prompt="a photo of a cat", guidance_scale=4.0, num_inference_steps=2, height=32, width=32, output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "stable-cascade-conditioning-in-denoiser-dtype.patch"
CASES = [
    Case(
        "StableCascadePriorPipeline",
        PATCH,
        _prior,
        _prior_inputs,
        denoiser="prior",
        conditioning=("clip_text_pooled", "clip_text", "clip_img"),
    ),  # fmt: skip
]
