"""Flux.2 Klein: the Qwen3 prompt embeddings reach the transformer in its dtype; the VAE works in its own."""

import torch

from forktools.upstream import hub_standins

from . import Case
from .qwenimage import qwen2_tokenizer


def _components(tokenizers):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2Transformer2DModel

    torch.manual_seed(0)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=16, timestep_guidance_channels=256, axes_dims_rope=[4, 4, 4, 4], guidance_embeds=False,
    ).eval()  # fmt: skip
    torch.manual_seed(0)
    text_encoder = Qwen3ForCausalLM(
        Qwen3Config(
            intermediate_size=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
            vocab_size=151936, max_position_embeddings=512,
        )
    ).eval()  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLFlux2(
        sample_size=32, in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",),
        up_block_types=("UpDecoderBlock2D",), block_out_channels=(4,), layers_per_block=1, latent_channels=1,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
    ).eval()  # fmt: skip
    return dict(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder, tokenizer=qwen2_tokenizer(tokenizers),
        transformer=transformer, vae=vae,
    )  # fmt: skip


def _inputs():
    # guidance_scale > 1 on a non-distilled model: the empty negative prompt goes through encode_prompt too
    return dict(
        prompt="a photo of a cat", guidance_scale=4.0, num_inference_steps=2, height=16, width=16,
        max_sequence_length=32, text_encoder_out_layers=(1,), output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _inpaint_inputs():
    image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    mask_image = torch.ones(1, 1, 16, 16)
    return dict(_inputs(), image=image, mask_image=mask_image, strength=0.8)


PATCH = "flux2-conditioning-in-transformer-dtype.patch"
CASES = [
    Case(
        "Flux2KleinPipeline",
        PATCH,
        _components,
        _inputs,
        denoiser="transformer",
        conditioning=("encoder_hidden_states",),
    ),
    Case(
        "Flux2KleinInpaintPipeline",
        PATCH,
        _components,
        _inpaint_inputs,
        denoiser="transformer",
        conditioning=("encoder_hidden_states",),
    ),  # fmt: skip
]
if not hub_standins.transformers_5():  # the Qwen2 tokenizer stand-in is built with transformers 5's API
    CASES = []
