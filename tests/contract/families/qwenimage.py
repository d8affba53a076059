"""QwenImage: the Qwen2.5-VL prompt embeddings reach the transformer in its dtype; the VAE encodes in its own."""

import torch

from forktools.upstream import hub_standins

from . import Case, tokenizer_folder


def qwen2_tokenizer(tokenizers):
    """A saved Qwen2 tokenizer stand-in (real special-token ids), beside the other tokenizers of `tokenizers`."""
    from transformers import Qwen2Tokenizer

    folder = tokenizer_folder(tokenizers, "qwen2", hub_standins.save_qwen2_tokenizer)
    return Qwen2Tokenizer.from_pretrained(folder)


def _components(tokenizers):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel

    torch.manual_seed(0)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=16, guidance_embeds=False, axes_dims_rope=(8, 4, 4),
    ).eval()  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLQwenImage(
        base_dim=24, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1, temperal_downsample=[False, True],
        latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    ).eval()  # fmt: skip
    torch.manual_seed(0)
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 16, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "num_key_value_heads": 2, "rope_theta": 1000000.0,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
        },
        vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": 16},
        hidden_size=16, vocab_size=152064, vision_end_token_id=151653, vision_start_token_id=151652,
        vision_token_id=151654,
    )  # fmt: skip
    text_encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
    return dict(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
        tokenizer=qwen2_tokenizer(tokenizers),
    )  # fmt: skip


def _inputs():
    # true CFG with a negative prompt: both prompts go through encode_prompt
    return dict(
        prompt="a photo of a cat", negative_prompt="bad quality", true_cfg_scale=2.0, num_inference_steps=2,
        height=32, width=32, max_sequence_length=16, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _img2img_inputs():
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return dict(_inputs(), image=image, strength=0.8)


PATCH = "qwenimage-conditioning-in-transformer-dtype.patch"
CONDITIONING = ("encoder_hidden_states", "encoder_hidden_states_mask")
CASES = [
    Case(
        "QwenImagePipeline",
        PATCH,
        _components,
        _inputs,
        denoiser="transformer",
        conditioning=CONDITIONING,
    ),
    Case(
        "QwenImageImg2ImgPipeline",
        PATCH,
        _components,
        _img2img_inputs,
        denoiser="transformer",
        conditioning=CONDITIONING,
    ),  # fmt: skip
]
if not hub_standins.transformers_5():  # the Qwen2 tokenizer stand-in is built with transformers 5's API
    CASES = []
