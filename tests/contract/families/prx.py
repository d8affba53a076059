"""PRX: the text conditioning reaches the transformer in the transformer's dtype (latent and pixel space)."""

import importlib.util

import torch

from forktools.upstream import hub_standins

from . import Case


def _t5gemma_encoder(hidden_size):
    from transformers.models.t5gemma.configuration_t5gemma import T5GemmaConfig, T5GemmaModuleConfig
    from transformers.models.t5gemma.modeling_t5gemma import T5GemmaEncoder

    params = dict(
        vocab_size=hub_standins.T5_VOCAB_SIZE, hidden_size=hidden_size, intermediate_size=16, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, head_dim=4, max_position_embeddings=64,
        layer_types=["full_attention"], attention_dropout=0.0, dropout_rate=0.0, query_pre_attn_scalar=4,
    )  # fmt: skip
    torch.manual_seed(0)
    config = T5GemmaConfig(encoder=T5GemmaModuleConfig(**params), is_encoder_decoder=False, **params)
    return T5GemmaEncoder(config.encoder).eval()


def _prx(tokenizers):
    from transformers import T5TokenizerFast

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, PRXTransformer2DModel

    torch.manual_seed(0)
    transformer = PRXTransformer2DModel(
        patch_size=1, in_channels=4, context_in_dim=8, hidden_size=8, mlp_ratio=2.0, num_heads=2, depth=1,
        axes_dim=[2, 2],
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1, latent_channels=4,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0, scaling_factor=1.0,
    ).eval()  # fmt: skip
    return dict(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=_t5gemma_encoder(8), tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]),
    )  # fmt: skip


def _prx_inputs():
    return dict(
        prompt="a photo of a cat", num_inference_steps=2, guidance_scale=2.0, height=32, width=32, output_type="pt",
        use_resolution_binning=False, tokenizer_max_length=16, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _prx_pixel(tokenizers):
    from transformers import T5TokenizerFast

    from diffusers import FlowMatchEulerDiscreteScheduler, PRXTransformer2DModel

    torch.manual_seed(0)
    transformer = PRXTransformer2DModel(
        patch_size=1, in_channels=3, context_in_dim=8, hidden_size=8, mlp_ratio=2.0, num_heads=2, depth=1,
        axes_dim=[2, 2], bottleneck_size=8, resolution_embeds=True,
    )  # fmt: skip
    return dict(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=_t5gemma_encoder(8),
        tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]), prompt_max_tokens=16,
    )  # fmt: skip


def _prx_pixel_inputs():
    return dict(
        prompt="a photo of a cat", num_inference_steps=2, guidance_scale=2.0, height=16, width=16, output_type="pt",
        use_resolution_binning=False, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "prx-conditioning-in-transformer-dtype.patch"
# PRX's text encoder is T5Gemma, which older transformers (4.49) lack: there the PRX pipelines cannot be imported.
HAS_T5GEMMA = importlib.util.find_spec("transformers.models.t5gemma") is not None
CASES = (
    [
        Case("PRXPipeline", PATCH, _prx, _prx_inputs, denoiser="transformer", conditioning=("encoder_hidden_states",)),
        Case(
            "PRXPixelPipeline",
            PATCH,
            _prx_pixel,
            _prx_pixel_inputs,
            denoiser="transformer",
            conditioning=("encoder_hidden_states",),
        ),
    ]
    if HAS_T5GEMMA
    else []
)
