"""Lumina and Lumina 2: the Gemma conditioning reaches the transformer in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case, tokenizer_folder


def _gemma_tokenizer(tokenizers):
    from transformers import AutoTokenizer

    folder = tokenizer_folder(tokenizers, "gemma", hub_standins.save_gemma_tokenizer)
    return AutoTokenizer.from_pretrained(folder)


def _lumina(tokenizers):
    from transformers import GemmaConfig, GemmaForCausalLM

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, LuminaNextDiT2DModel

    torch.manual_seed(0)
    transformer = LuminaNextDiT2DModel(
        sample_size=4, patch_size=2, in_channels=4, hidden_size=4, num_layers=1, num_attention_heads=1,
        num_kv_heads=1, multiple_of=16, ffn_dim_multiplier=None, norm_eps=1e-5, learn_sigma=True, qk_norm=True,
        cross_attention_dim=8, scaling_factor=1.0,
    ).eval()  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKL().eval()
    tokenizer = _gemma_tokenizer(tokenizers)
    torch.manual_seed(0)
    text_encoder = GemmaForCausalLM(
        GemmaConfig(
            vocab_size=len(tokenizer),
            head_dim=2,
            hidden_size=8,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            num_key_value_heads=4,
        )  # fmt: skip
    ).eval()
    return dict(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
        tokenizer=tokenizer,
    )  # fmt: skip


def _lumina2(tokenizers):
    from transformers import Gemma2Config, Gemma2Model

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, Lumina2Transformer2DModel

    torch.manual_seed(0)
    transformer = Lumina2Transformer2DModel(
        sample_size=4, patch_size=2, in_channels=4, hidden_size=8, num_layers=1, num_attention_heads=1,
        num_kv_heads=1, multiple_of=16, ffn_dim_multiplier=None, norm_eps=1e-5, scaling_factor=1.0,
        axes_dim_rope=[4, 2, 2], cap_feat_dim=8,
    ).eval()  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1, latent_channels=4,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
        scaling_factor=1.5035,
    ).eval()  # fmt: skip
    tokenizer = _gemma_tokenizer(tokenizers)
    torch.manual_seed(0)
    text_encoder = Gemma2Model(
        Gemma2Config(
            vocab_size=len(tokenizer),
            head_dim=4,
            hidden_size=8,
            intermediate_size=8,
            num_attention_heads=2,
            num_hidden_layers=2,
            num_key_value_heads=2,
            sliding_window=2,
        )  # fmt: skip
    ).eval()
    return dict(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
        tokenizer=tokenizer,
    )  # fmt: skip


def _inputs():
    # a negative prompt of its own: Lumina masks out every token of an empty one, and its attention gives NaN then
    return dict(
        prompt="a photo of a cat", negative_prompt="low quality", num_inference_steps=2, guidance_scale=5.0,
        height=16, width=16, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


# The Gemma tokenizer stand-in needs transformers 5 (hub_standins.NEEDS_TRANSFORMERS_5).
CASES = (
    [
        Case(
            "LuminaPipeline",
            "lumina-conditioning-in-transformer-dtype.patch",
            _lumina,
            _inputs,
            denoiser="transformer",
            conditioning=("encoder_hidden_states", "encoder_mask"),
        ),
        Case(
            "Lumina2Pipeline",
            "lumina2-conditioning-in-transformer-dtype.patch",
            _lumina2,
            _inputs,
            denoiser="transformer",
            conditioning=("encoder_hidden_states", "encoder_attention_mask"),
        ),
    ]
    if hub_standins.transformers_5()
    else []
)
