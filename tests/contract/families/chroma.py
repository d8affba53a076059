"""Chroma: the T5 conditioning and its float attention mask reach the transformer in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _chroma(tokenizers):
    from transformers import T5EncoderModel, T5TokenizerFast

    from diffusers import AutoencoderKL, ChromaTransformer2DModel, FlowMatchEulerDiscreteScheduler

    torch.manual_seed(0)
    transformer = ChromaTransformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=32, axes_dims_rope=[4, 4, 8], approximator_hidden_dim=32, approximator_layers=1,
        approximator_num_channels=16,
    )  # fmt: skip
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(hub_standins.t5_config()).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1, latent_channels=1,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
        scaling_factor=1.5035,
    )  # fmt: skip
    return dict(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
        tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]), transformer=transformer, vae=vae,
        image_encoder=None, feature_extractor=None,
    )  # fmt: skip


def _chroma_inputs():
    return dict(
        prompt="a photo of a cat", negative_prompt="bad, ugly", num_inference_steps=2, guidance_scale=5.0, height=8,
        width=8, max_sequence_length=16, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "chroma-conditioning-in-transformer-dtype.patch"
CONDITIONING = ("encoder_hidden_states", "attention_mask")
CASES = [
    Case("ChromaPipeline", PATCH, _chroma, _chroma_inputs, denoiser="transformer", conditioning=CONDITIONING),
]
