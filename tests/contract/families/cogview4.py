"""CogView4: the GLM conditioning reaches the transformer in the transformer's dtype."""

import torch

from . import Case


def _components(tokenizers, control=False):
    from transformers import GlmConfig, GlmForCausalLM, T5TokenizerFast

    from diffusers import AutoencoderKL, CogView4Transformer2DModel, FlowMatchEulerDiscreteScheduler

    torch.manual_seed(0)
    transformer = CogView4Transformer2DModel(
        patch_size=2, in_channels=8 if control else 4, num_layers=1, attention_head_dim=4, num_attention_heads=4,
        out_channels=4, text_embed_dim=32, time_embed_dim=8, condition_dim=4,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1, latent_channels=4,
        norm_num_groups=1,
    )  # fmt: skip
    scheduler = FlowMatchEulerDiscreteScheduler(
        base_shift=0.25, max_shift=0.75, base_image_seq_len=256, use_dynamic_shifting=True, time_shift_type="linear"
    )
    # The pipelines pad the token ids with the tokenizer's pad token: the T5 stand-in serves.
    tokenizer = T5TokenizerFast.from_pretrained(tokenizers["t5"])
    torch.manual_seed(0)
    config = GlmConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=8, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    return dict(
        transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=GlmForCausalLM(config).eval(),
        tokenizer=tokenizer,
    )  # fmt: skip


def _control_components(tokenizers):
    return _components(tokenizers, control=True)


def _inputs():
    return dict(
        prompt="dance monkey", negative_prompt="bad", num_inference_steps=2, guidance_scale=6.0, height=16, width=16,
        max_sequence_length=16, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _control_inputs():
    control_image = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return dict(_inputs(), control_image=control_image)


PATCH = "cogview4-conditioning-in-transformer-dtype.patch"
CONDITIONING = ("encoder_hidden_states", "original_size", "target_size", "crop_coords")
CASES = [
    Case("CogView4Pipeline", PATCH, _components, _inputs, "transformer", CONDITIONING),
    Case("CogView4ControlPipeline", PATCH, _control_components, _control_inputs, "transformer", CONDITIONING),
]
