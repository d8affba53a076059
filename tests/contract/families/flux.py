"""Flux: the T5 and pooled CLIP conditioning reaches the transformer (and the ControlNet) in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _transformer(in_channels):
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    return FluxTransformer2DModel(
        patch_size=1, in_channels=in_channels, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
    )  # fmt: skip


def _flux(tokenizers, latent_channels=1):
    from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, T5TokenizerFast

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler

    torch.manual_seed(0)
    text_encoder = CLIPTextModel(hub_standins.clip_text_config(projection_dim=32)).eval()
    torch.manual_seed(0)
    text_encoder_2 = T5EncoderModel(hub_standins.t5_config()).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
        latent_channels=latent_channels, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
        shift_factor=0.0609, scaling_factor=1.5035,
    )  # fmt: skip
    return dict(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder, text_encoder_2=text_encoder_2,
        tokenizer=CLIPTokenizer.from_pretrained(tokenizers["clip"]),
        tokenizer_2=T5TokenizerFast.from_pretrained(tokenizers["t5"]), transformer=_transformer(4 * latent_channels),
        vae=vae,
    )  # fmt: skip


def _flux_pipeline(tokenizers):
    return dict(_flux(tokenizers), image_encoder=None, feature_extractor=None)


def _controlnet(tokenizers):
    from diffusers import FluxControlNetModel

    torch.manual_seed(0)
    controlnet = FluxControlNetModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
    )  # fmt: skip
    return dict(_flux(tokenizers, latent_channels=4), controlnet=controlnet)


def _inputs(**extra):
    return dict(
        prompt="a photo of a cat", num_inference_steps=2, guidance_scale=5.0, height=8, width=8,
        max_sequence_length=16, output_type="pt", generator=torch.Generator().manual_seed(0), **extra,
    )  # fmt: skip


def _image():
    return torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def _img2img_inputs():
    return _inputs(image=_image(), strength=0.8)


def _controlnet_inputs():
    return dict(
        _inputs(control_image=_image(), controlnet_conditioning_scale=0.5), height=16, width=16
    )  # fmt: skip


PATCH = "flux-conditioning-in-transformer-dtype.patch"
CONDITIONING = ("encoder_hidden_states", "pooled_projections")
CASES = [
    Case("FluxPipeline", PATCH, _flux_pipeline, _inputs, denoiser="transformer", conditioning=CONDITIONING),
    Case("FluxImg2ImgPipeline", PATCH, _flux_pipeline, _img2img_inputs, denoiser="transformer", conditioning=CONDITIONING),
    Case(
        "FluxControlNetPipeline", PATCH, _controlnet, _controlnet_inputs, denoiser="controlnet",
        conditioning=(*CONDITIONING, "controlnet_cond"),
    ),
]  # fmt: skip
