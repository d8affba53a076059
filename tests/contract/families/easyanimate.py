"""EasyAnimate: the Qwen2-VL conditioning and the latents reach the transformer in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case, tokenizer_folder


def _easyanimate(tokenizers):
    from transformers import Qwen2Tokenizer, Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from diffusers import AutoencoderKLMagvit, EasyAnimateTransformer3DModel, FlowMatchEulerDiscreteScheduler

    folder = tokenizer_folder(tokenizers, "qwen2", hub_standins.save_qwen2_tokenizer)
    text = dict(
        hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
        vocab_size=152064, rope_theta=1000000.0,
        rope_scaling={"type": "mrope", "rope_type": "default", "mrope_section": [1, 1, 2]},
    )  # fmt: skip
    config = dict(
        vision_config=dict(depth=1, embed_dim=16, hidden_size=16, num_heads=2, mlp_ratio=1), vocab_size=152064,
        hidden_size=16, image_token_id=151655, video_token_id=151656, vision_start_token_id=151652,
        vision_end_token_id=151653,
    )  # fmt: skip
    # transformers 5 nests the language model's settings in `text_config`; transformers 4 takes them flat
    config = (
        Qwen2VLConfig(text_config=text, **config)
        if hub_standins.transformers_5()
        else Qwen2VLConfig(**{**text, **config})
    )
    torch.manual_seed(0)
    text_encoder = Qwen2VLForConditionalGeneration(config).eval()
    torch.manual_seed(0)
    transformer = EasyAnimateTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=2,
        text_embed_dim=16, num_layers=1, sample_width=16, sample_height=16, patch_size=2,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLMagvit(
        down_block_types=("SpatialDownBlock3D",) + ("SpatialTemporalDownBlock3D",) * 3,
        up_block_types=("SpatialUpBlock3D",) + ("SpatialTemporalUpBlock3D",) * 3,
        block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
        spatial_group_norm=False,
    )  # fmt: skip
    return dict(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
        tokenizer=Qwen2Tokenizer.from_pretrained(folder),
    )  # fmt: skip


def _easyanimate_inputs():
    return dict(
        prompt="dance monkey", negative_prompt="", num_inference_steps=2, guidance_scale=6.0, height=16, width=16,
        num_frames=5, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "easyanimate-conditioning-in-transformer-dtype.patch"
CASES = [
    Case(
        "EasyAnimatePipeline",
        PATCH,
        _easyanimate,
        _easyanimate_inputs,
        "transformer",
        ("encoder_hidden_states", "hidden_states"),
    ),  # fmt: skip
]
